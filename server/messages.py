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
    "index_unavailable": "索引暂时无法读取，请稍后再试；如果一直如此，请管理员重建索引（python -m indexer build）。",
    "internal_error": "服务器内部出错了，问题已记录在日志中。请稍后再试。",
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
