"""The pages' Chinese wording of the indexer's message codes (indexer/messages.py holds the English)."""

from __future__ import annotations

from indexer.messages import Message, word

CHINESE = {
    "unmatched_quote": "忽略了一个不成对的引号",
    "or_at_start": "忽略了开头的 OR",
    "or_at_end": "忽略了末尾的 OR",
    "not_at_end": "忽略了末尾的 NOT",
    "empty_phrase": "忽略了空的引号短语",
    "unsearchable": "“{value}”不含可检索的字符，已忽略",
    "filter_without_value": "{prefix}: 后面没有值，已忽略",
    "negated_filter": "不支持排除筛选（-{prefix}:），已忽略这个筛选",
    "lowercase_operator": "小写的 {word} 按运算符 {operator} 理解；要搜索这个词请加引号：\"{word}\"",
    "unknown_field": "没有 {prefix}: 这个字段，已按文字“{prefix}:{value}”搜索（可用字段：{fields}）",
    "empty_query": "请输入关键词、\"短语\"，或选择一个筛选条件。",
    "query_too_long": "查询太长（{length} 个字符），最多 {limit} 个字符。请缩短关键词。",
    "too_many_terms": "查询包含 {count} 个词和短语，最多 {limit} 个。请减少关键词。",
    "not_a_whole_number": "{name}须为整数，收到的是“{value}”。",
    "out_of_range": "{name}须在 {low} 到 {high} 之间，收到的是 {value}。",
    "not_a_date": "日期格式不对（{name}）：应为 2025-02-04 这样的形式，收到的是“{value}”。",
    "not_an_instant": "入库时间格式不对（{name}）：应为 2025-02-04 或 2025-02-04T09:30:00，收到的是“{value}”。",
    "bad_sort": "排序方式只能是“相关度”（relevance）、“日期”（date）或“入库时间”（added）。",
    "dates_reversed": "起始日期 {date_from} 晚于结束日期 {date_to}。",
    "too_many_values": "一次最多选择 {limit} 个{name}，收到了 {count} 个。",
    "page_beyond_end": "第 {page} 页超出了范围：共 {total} 条结果，只有 {last} 页。",
    "not_utf8": "请求不是有效的 UTF-8 编码。",
    "not_found": "没有这个页面或报告。",
    "no_such_report": "没有编号为 {id} 的报告。",
    "original_missing": "原文件已不在档案文件夹中。",
    "method_not_allowed": "这个地址不支持 {method} 请求方法。",
    "upload_too_large": "上传的文件超过了 {limit_mb:g} MB 的大小限制。",
    "form_too_large": "上传的表单超过 {max_parts} 个字段，或有文本字段超过 {max_text_kb} KB：请只用 file 字段上传报告。",
    "index_unavailable": "索引暂时无法读取，请稍后再试；如果一直如此，请管理员重建索引（python -m indexer build）。",
    "index_damaged": "索引文件 {file} 已损坏（{detail}）。为免给出错误的结果，检索已暂停；请管理员重建索引：python -m indexer build。",
    # Files the indexer could not read (failed receipts), and duplicates.
    "unsupported_type": "不支持的文件类型（{suffix}），只收 .pdf、.txt、.md",
    "empty_front_matter": "文件是空的（只有文件头信息）",
    "empty_whitespace": "文件是空的（只有空白）",
    "outside_archive": "路径在档案文件夹之外",
    "file_not_found": "找不到文件（已删除或移走？）",
    "cannot_access": "无法访问文件：{error}",
    "symlink": "这是符号链接，不会跟随链接读取",
    "not_regular": "不是普通文件",
    "cannot_open": "无法打开文件：{error}",
    "file_too_large": "文件大小 {size}，超过 {limit} 的上限",
    "over_limit": "文件超过 {limit} 的上限",
    "empty_file": "文件是空的（0 字节）",
    "binary_nul": "看起来是二进制文件（含 NUL 字节），不是文本",
    "undecodable": "无法识别文本编码：不是 UTF-8、UTF-16 或 GB18030（二进制文件？）",
    "undecodable_gb18030": "无法识别文本编码：不是 UTF-8，按 GB18030 解码也不是可读文本（二进制文件？）",
    "binary_control": "看起来是二进制文件（按 {encoding} 解码后是控制字符），不是文本",
    "bom_mismatch": "文件带有 {encoding} 的字节序标记，却无法按它解码",
    "not_pdf": "不是 PDF 文件（没有 %PDF 文件头）",
    "pdf_password": "PDF 设有密码，无法读取",
    "pdf_corrupt": "PDF 文件不完整或已损坏",
    "pdf_budget": "PDF 太大，无法建立索引",
    "pdf_memory": "读取这份 PDF 需要的内存超过了上限；文件改动前不会再试",
    "pdf_timeout": "读取这份 PDF 超时；文件改动前不会再试",
    "pdf_recursion": "PDF 结构嵌套过深，无法读取",
    "pdf_error": "PDF 无法读取",
    "pdf_crashed": "这份 PDF 使读取程序崩溃；文件改动前不会再试",
    "pdf_no_text": "PDF 没有文字层（扫描图片？）",
    "pdf_unmapped": "PDF 的文字无法识别（字体缺少 Unicode 映射）",
    "no_text_left": "清理后没有剩下正文（只有标记、水印或空白）",
    "name_not_utf8": "文件名不是有效的 UTF-8 编码，请重命名",
    "internal_read_error": "读取时发生内部错误（已记录）",
    "same_content_as": "与 {path} 内容相同",
    "internal_error": "服务器内部出错了，问题已记录在日志中。请稍后再试。",
    "request_line_too_long": "请求地址超过了 {limit} 字节，请缩短查询。",
    "headers_too_large": "请求头的字段太多或太大。",
    "bad_http": "请求不是有效的 HTTP：{reason}",
}

# Parameter names as the pages call them.
PARAMETER_NAMES = {"broker": "券商", "industry": "行业", "rating": "评级", "page": "页码", "size": "每页条数", "from": "起始日期", "to": "结束日期",
                   "indexed_from": "入库起始时间", "indexed_to": "入库结束时间"}


def chinese(message: Message) -> str:
    """`message` worded for the pages."""
    params = dict(message.params)
    if "name" in params:
        params["name"] = PARAMETER_NAMES.get(params["name"], params["name"])
    return word(CHINESE, Message(message.code, params))
