"""Report metadata: title, date, broker, analysts, rating, industry and stock codes."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from indexer.normalize import clean_inline
from indexer.textrules import BULLET_GLYPHS, CONTACT_LINE, CREDIT_LINE, FRONT_MATTER, MD_LINK, drop_markers, map_private_use, md_link_text

# Where the cover page of a report ends at the latest: title, date, rating and industry are
# looked for only here, so that dates and ratings of the body and disclaimers never count.
HEADER_MAX_LINES = 60
HEADER_MAX_CHARS = 3000

BROKERS_FILE = Path(__file__).parent / "data" / "brokers.txt"


@dataclass(frozen=True)
class Analyst:
    """An analyst named on a report, with the SAC certificate number when it is given."""

    name: str
    sac: str = ""  # SAC certificate number like "S0790519100001", "" if unknown


@dataclass(frozen=True)
class ReportMeta:
    """What a report says about itself; a field that cannot be determined is empty."""

    title: str = ""
    date: str = ""  # ISO "YYYY-MM-DD" or ""
    broker: str = ""  # 机构, e.g. "开源证券"
    analysts: tuple[Analyst, ...] = ()
    rating: str = ""  # e.g. "看好", "买入", "超配", "增持"
    rating_action: str = ""  # e.g. "维持", "首次", "上调", "下调", ""
    industry: str = ""  # e.g. "汽车", "计算机"
    stock_codes: tuple[str, ...] = ()  # e.g. "NVDA.US", "1810.HK", "002594.SZ"


# --------------------------------------------------------------------------- brokers


@dataclass(frozen=True)
class BrokerTable:
    """Known brokers: every spelling mapped to its short name, and research e-mail domains."""

    spellings: dict[str, str]  # every spelling, short names included -> short name
    domains: dict[str, str]  # "kysec.cn" -> "开源证券"
    names: frozenset[str]  # the short names
    pattern: re.Pattern[str]  # finds any spelling in a text, the longest at a position


def load_brokers(path: Path = BROKERS_FILE) -> BrokerTable:
    """Read a broker list: "short name", "alias=short name" or "@domain=short name" per line."""
    spellings: dict[str, str] = {}
    domains: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        spelling, _, short = (part.strip() for part in line.partition("="))
        short = short or spelling
        if spelling.startswith("@"):
            domains[spelling[1:].lower()] = short
        else:
            spellings[spelling] = short
            spellings.setdefault(short, short)
    return BrokerTable(
        spellings=spellings,
        domains=domains,
        names=frozenset(spellings.values()),
        pattern=re.compile(_trie_pattern(spellings)),
    )


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of the words, longest first, factored by common prefixes (fast to scan)."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def render(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + render(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Greedy optional: 中信证券国际 wins over 中信证券, 国泰君安证券 over 国泰君安.
        return f"(?:{body})?" if "" in node else body

    return render(trie)


BROKERS = load_brokers()

_ORG_SUFFIX = re.compile(r"(?:股份有限公司|有限责任公司|有限公司|研究所|研究部|研究中心)$")
_BROKER_LIKE = re.compile(r"[\u4e00-\u9fff（）()]{2,14}?(?:证券研究所|证券|国际|期货|基金|资管|研究院)")


def normalize_broker(name: str) -> str:
    """Short broker name: "东莞证券股份有限公司" -> "东莞证券", "浦银国际证券" -> "浦银国际"."""
    short = re.sub(r"\s+", "", name)
    while True:
        if short in BROKERS.spellings:
            return BROKERS.spellings[short]
        suffix = _ORG_SUFFIX.search(short)
        if not suffix or suffix.start() < 2:
            break
        short = short[: suffix.start()]
    if short.endswith("国际证券"):
        short = short[:-2]
    return short


def _is_broker_token(token: str) -> bool:
    return token in BROKERS.spellings or bool(_BROKER_LIKE.fullmatch(token))


# --------------------------------------------------------------------------- dates

_DATE = re.compile(
    r"(?<![\d.\-/—])((?:19|20)\d\d)\s*(?:年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"
    r"|([-./])(\d{1,2})\4(\d{1,2})(?![\d.]))"
)
_DATE_COMPACT = re.compile(r"(?<!\d)((?:19|20)\d\d)(\d\d)(\d\d)(?!\d)")


def _iso(year: str, month: str, day: str) -> str:
    try:
        date = dt.date(int(year), int(month), int(day))
    except ValueError:
        return ""
    return date.isoformat() if 1990 <= date.year <= 2100 else ""


def _date_of_match(match: re.Match[str]) -> str:
    year, month, day = match.group(1), match.group(2) or match.group(5), match.group(3) or match.group(6)
    return _iso(year, month, day)


def parse_date(value: Any) -> str:
    """ISO date of a front-matter value or a date string ("2025-02-09 19:50:00", "2025年2月9日")."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, bool):
        return ""
    text = str(value).strip()
    match = _DATE.search(text)
    if match:
        return _date_of_match(match)
    match = _DATE_COMPACT.search(text)
    return _iso(*match.groups()) if match else ""


# --------------------------------------------------------------------------- vocabularies

_RATINGS = (
    "强烈推荐 谨慎推荐 审慎推荐 审慎增持 谨慎增持 强于大市 同步大市 弱于大市 优于大市 跑赢大市 "
    "跑输大市 领先大市 落后大市 跑赢行业 同步行业 跑输行业 强于行业 优于行业 弱于行业 买入 增持 "
    "持有 中性 减持 卖出 看好 看淡 超配 标配 低配 推荐 回避"
).split()
_RATING = "|".join(sorted(_RATINGS, key=len, reverse=True))
_ACTIONS = {
    "维持": "维持", "首次覆盖": "首次", "首次评级": "首次", "首次": "首次",
    "上调": "上调", "调高": "上调", "提升": "上调", "下调": "下调", "调低": "下调", "降低": "下调",
}
_ACTION = "|".join(sorted(_ACTIONS, key=len, reverse=True))
_Q_OPEN, _Q_CLOSE = "[“\"「‘'『]?", "[”\"」’'』]?"

# 投资评级：看好（维持） / 评级：增持 / 行业评级 超配
_RATING_LABELED = re.compile(
    rf"(?:投资|行业|公司|股票)?评级\s*[:：]?\s*{_Q_OPEN}({_RATING}){_Q_CLOSE}"
    rf"(?:\s*[（(]\s*({_ACTION})\s*[)）])?"
)
# 超配（维持） / 买入(首次)
_RATING_WITH_ACTION = re.compile(rf"({_RATING})\s*[（(]\s*({_ACTION})\s*[)）]")
# 维持“买入”评级 / 首次覆盖，给予“增持”评级 / 上调至“买入”评级
_RATING_IN_SENTENCE = re.compile(rf"({_ACTION})[^。；\n]{{0,10}}?{_Q_OPEN}({_RATING}){_Q_CLOSE}评级")

_INDUSTRIES = (
    "农林牧渔 基础化工 钢铁 有色金属 电子 汽车 家用电器 食品饮料 纺织服饰 轻工制造 医药生物 公用事业 "
    "交通运输 房地产 商贸零售 社会服务 银行 非银金融 建筑材料 建筑装饰 电力设备 机械设备 国防军工 "
    "计算机 传媒 通信 煤炭 石油石化 环保 美容护理 化工 医药 家电 纺织服装 电气设备 电力设备及新能源 "
    "新能源 新能源汽车 半导体 军工 建材 建筑 交运 商贸 休闲服务 餐饮旅游 社服 农业 有色 非银 券商 证券 "
    "保险 互联网 电力 机械 光伏 储能 风电 锂电 锂电池 人工智能 机器人 消费电子 白酒 物流 航空 航运 "
    "港口 教育 游戏 汽车零部件 零售 医疗器械 医疗服务 生物医药 创新药 中药 化学制药 食品 饮料 化纤 "
    "石油 油气 旅游 酒店 影视 出版 通信设备 软件 信创 云计算 算力 低空经济 智能汽车 家居 造纸 水务 "
    "燃气 电网 核电 消费 纺织 轻工 交通 地产 食品饮料 医药医疗 电子元器件 黄金 贵金属 稀土 小金属 金融 大金融"
).split()
INDUSTRIES = frozenset(_INDUSTRIES)
_INDUSTRY = "|".join(sorted(INDUSTRIES, key=len, reverse=True))
_NOT_A_COVER_TAG = re.compile(r"[：:，,。；;>＞<＜]")
_INDUSTRY_BEFORE_HANGYE = re.compile(rf"({_INDUSTRY})行业")
_INDUSTRY_LABELED = re.compile(r"(?:^|[\s|｜])(?:所属|覆盖)?行业(?:分类)?\s*[:：]\s*([^\s:：，,。;；、|｜]{2,12})")

# --------------------------------------------------------------------------- line shapes

_MARKUP = re.compile(r"\*\*|__|^\s*(?:#{1,6}|>)\s*")
_SPACES = re.compile(r"\s+")
_MD_SUBHEADING = re.compile(r"^\s{0,3}#{2,6}\s")
_BULLET = re.compile(rf"^[{BULLET_GLYPHS}√*·\-+|｜]")
_SECTION_NUMBER = re.compile(
    r"^(?:[一二三四五六七八九十]+[、.．]|\d{1,2}(?:[、．]|\.(?!\d))|\d{1,2}(?:\.\d{1,2})+(?:[、．\s]|\.(?!\d))"
    r"|[（(][一二三四五六七八九十\d]{1,2}[)）]|[ivxIVX]{1,4}\.(?!\d))"
)
_BOILERPLATE_START = re.compile(
    r"免责声明|免责申明|分析师声明|分析师承诺|特别声明|法律声明|重要声明|一般声明|评级说明|评级体系|"
    r"评级定义|分析师简介|研究助理简介|权益披露|信息披露"
)
_READ_NOTICE = re.compile(r"请务必|请阅读|敬请|参阅|详见")
_RELATED_HEADING = re.compile(r"^(?:相关研究|相关报告|近期研究|近期报告|往期报告|往期回顾|历史研究|相关研究报告)")
_SOURCE_LINE = re.compile(r"^(?:数据|资料)?来源|行业走势|市场表现|股价走势|相对表现|走势图|相关研究")
_SUBTITLE = re.compile(
    r"^(?:——|—|--|－－)|^(?:证券研究报告|研究报告|行业研究|公司研究|策略研究|宏观研究|固定收益|"
    r"投资要点|核心观点|主要观点|报告摘要|摘要|投资建议|事件|点评|要点)$"
)
_REPORT_KIND = re.compile(
    r"(?:报告|点评|周报|月报|日报|简报|快报|专题|深度|跟踪|简评|季报|研究|策略|点睛|速递|研报|观察|快评|动态|评论|周观点)$"
)
_SENTENCE_END = re.compile(r"[。！？!?]")
_DATE_LINE_LABEL = re.compile(
    r"星期.|周[一二三四五六日天]|(?:发布|报告|撰写)?日期|发布时间|时间|证券研究报告|研究报告|[|｜:：/·\-—]"
)
_NOT_A_REPORT_DATE = re.compile(r"截至|截止|收盘|数据|区间|回顾|行情|涨|跌|以来|之前|前|[，,。；;]")
_CLAUSE_MARK = re.compile(r"[，。；！？]")
_PAGE_FURNITURE = re.compile(r"Page\s*\d|第\s*\d+\s*页|免责|全球视野")
TITLE_MIN_CHARS = 6


def _clean_line(line: str) -> str:
    line = map_private_use(drop_markers(line, " "))
    line = MD_LINK.sub(lambda match: md_link_text(match, every=True), line)
    line = _MARKUP.sub("", line)
    return _SPACES.sub(" ", line).strip()


def _compact(text: str) -> str:
    return _SPACES.sub("", text)


@dataclass(frozen=True)
class Header:
    """The cleaned lines of a report's cover page; lists of related reports are blanked."""

    lines: list[str]
    subheadings: frozenset[int]  # indexes of Markdown headings below level 1: never the title


def read_header(text: str) -> Header:
    """The cover page of a report: its first lines up to the first disclaimer heading."""
    body = FRONT_MATTER.sub("", text, count=1)
    lines: list[str] = []
    subheadings: set[int] = set()
    total = 0
    in_related = False
    for raw in body.splitlines()[:HEADER_MAX_LINES]:
        if _MD_SUBHEADING.match(raw):
            subheadings.add(len(lines))
        line = _clean_line(raw[: HEADER_MAX_CHARS * 2])
        total += len(line)
        if total > HEADER_MAX_CHARS:
            if len(lines) < 2:  # a text written as one long line: its start still shows the cover
                lines.append(line[: max(0, HEADER_MAX_CHARS - (total - len(line)))])
            break
        if line and len(line) <= 30 and _BOILERPLATE_START.search(line) and not _READ_NOTICE.search(line):
            break
        if _RELATED_HEADING.match(line):
            in_related = True
            lines.append("")
            continue
        if in_related:
            if not line or "《" in line or "》" in line or _DATE.search(line) or len(line) <= 40:
                lines.append("")
                continue
            in_related = False
        lines.append("" if "《" in line or "》" in line else line)
    return Header(lines, frozenset(subheadings))


# --------------------------------------------------------------------------- title


def _is_date_line(line: str) -> bool:
    """A line that states the report's date, alone or with a label; not "行情回顾（2025.6.2-6.6）"."""
    match = _DATE.search(line)
    if not match:
        return False
    compact = _compact(line)
    if _BULLET.match(compact) or _SECTION_NUMBER.match(line):
        return False
    if compact.startswith(("|", "｜", "（", "(")) or compact.endswith(("：", ":")):
        return False
    after = line[match.end():].lstrip()
    if after.startswith(("-", "—", "–", "~", "～", "至", ")", "）")) or _NOT_A_REPORT_DATE.search(compact):
        return False
    rest = _compact(line[: match.start()] + line[match.end():])
    return len(_DATE_LINE_LABEL.sub("", rest)) <= 10


def _is_title_candidate(line: str) -> bool:
    compact = _compact(line)
    if len(compact) < TITLE_MIN_CHARS or len(compact) > 80:
        return False
    if _READ_NOTICE.search(compact) or _PAGE_FURNITURE.search(line):
        return False
    if compact[-1] in ":：" or _SUBTITLE.search(compact) or _SECTION_NUMBER.match(line):
        return False
    if len(compact) <= 12 and _REPORT_KIND.search(compact):
        return False
    if _BULLET.match(compact) or CONTACT_LINE.search(line) or CREDIT_LINE.search(line):
        return False
    if _SOURCE_LINE.search(compact) or _is_date_line(line):
        return False
    if _RATING_LABELED.search(compact) or _RATING_WITH_ACTION.search(compact):
        return False
    if compact in INDUSTRIES or compact.removesuffix("行业") in INDUSTRIES:
        return False
    letters = sum(ch.isalpha() for ch in compact)
    return letters >= len(compact) / 2


def _title_from_header(header: Header) -> str:
    """The first line of the cover that reads like a title; a title broken by the PDF is joined."""
    lines = header.lines
    for index, line in enumerate(lines):
        if not line or index in header.subheadings:
            continue
        if _SENTENCE_END.search(line) or len(_compact(line)) > 80:
            return ""  # the body has begun: whatever comes later is not the title
        following = lines[index + 1] if index + 1 < len(lines) else ""
        after_next = lines[index + 2] if index + 2 < len(lines) else ""
        wrapped = len(_compact(line)) >= 20 and len(_compact(following)) >= 20
        if wrapped and _CLAUSE_MARK.search(following + after_next):
            return ""  # a wrapped paragraph: the body (or a summary column) has begun
        if not _is_title_candidate(line):
            continue
        joined = line + (" " if line[-1:].isascii() and following[:1].isascii() else "") + following
        if (
            len(_compact(line)) >= 15
            and following
            and line[-1] not in "：:，,。！？!?）)"
            and not _SENTENCE_END.search(following)
            and _is_title_candidate(following)
            and len(_compact(joined)) <= 60
        ):
            return joined
        return line
    return ""


_GENERIC_PIECE = re.compile(
    r"^(?:(?:证券|行业|公司|策略|宏观|金融工程|金工|量化|固定收益|固收|专题|深度|主题|研究|投资)+(?:研究)?(?:报告|研究)?"
    r"|金融工程|量化研究|权益量化|数量化投资|数量化研究)$"
)
_URL = re.compile(r"https?:|www\.|\.(?:com|cn|net)\b", re.IGNORECASE)


def _is_generic_label(compact: str) -> bool:
    """A cover label made only of kinds of report, categories, brokers or industries: "证券研究报告|金融工程"."""
    pieces = [p for p in re.split(r"[|｜/／·•\-—_]+", compact) if p]
    return bool(pieces) and all(
        _GENERIC_PIECE.match(p) or _SUBTITLE.search(p) or p in INDUSTRIES or p in BROKERS.spellings
        for p in pieces
    )


_KIND_LINE = re.compile(r"(?:专题|深度|研究|策略|点评|调研|季度|年度|中期|投资)(?:会)?(?:专题)?报告$")


def cover_title(line: str, continued: bool = False, strict: bool = False) -> str:
    """A line of a PDF cover's largest type as a title (cleaned), or "" when it cannot be one.

    `continued`: the line follows a title line in the same type (a title set on two lines);
    `strict`: a line that names only the kind of report ("2010中期策略会专题报告") is refused too.
    """
    text = _clean_line(line)
    compact = _compact(text)
    if not compact or _URL.search(text) or _is_generic_label(compact) or not _CJK.search(compact):
        return ""
    if continued:
        ok = len(compact) >= 2 and not _is_date_line(text) and not CONTACT_LINE.search(text)
        return text if ok else ""
    if strict and _KIND_LINE.search(compact) and not re.search(r"[：:]", compact):
        return ""
    return text if _is_title_candidate(text) else ""


FIRST_LINE_TITLE_MAX = 80
BODY_AFTER_TITLE_MIN = 60


def _first_line_title(lines: list[str]) -> str:
    """The first line of a text when it stands alone above a body: "行业周报：标题" then a long paragraph.

    Text files written as one title line and one body line (or a few long ones) name themselves
    this way; a cover of short lines (sector, date, analysts) does not, and goes by _title_from_header.
    """
    filled = [line for line in lines if line]
    if len(filled) < 2:
        return ""
    first, following = filled[0], filled[1]
    compact = _compact(first)
    if not (4 <= len(compact) <= FIRST_LINE_TITLE_MAX) or _SENTENCE_END.search(first):
        return ""
    if len(_compact(following)) < max(BODY_AFTER_TITLE_MIN, 2 * len(compact)):
        return ""
    if _is_generic_label(compact) or _URL.search(first) or CONTACT_LINE.search(first) or CREDIT_LINE.search(first):
        return ""
    date = _DATE.search(first)
    if date and len(_compact(first[: date.start()] + first[date.end():])) < 4:
        return ""  # a date line, not a title
    return first if _CJK.search(compact) else ""


def _choose_title(from_text: str, from_name: str) -> str:
    """The title the report's first lines give; the file name's when the text has none or cut it short."""
    if not from_name:
        return from_text
    if not from_text:
        return from_name
    text_key, name_key = _compact(from_text), _compact(from_name)
    if name_key.startswith(text_key) and len(name_key) > len(text_key):
        return from_name  # the text's title was cut short (a line break in a PDF-extracted text)
    return from_text


# --------------------------------------------------------------------------- file name

_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_NAME_DATE_HEAD = re.compile(r"^((?:19|20)\d\d)[-_.]?(\d\d)[-_.]?(\d\d)(?:[-_ ]+|$)")
_NAME_DATE_TAIL = re.compile(r"(?:^|[-_ ]+)((?:19|20)\d\d)[-_.]?(\d\d)[-_.]?(\d\d)$")
_NAME_TOKEN_HEAD = re.compile(r"^([^-_ ]{2,16})[-_ ]+")
_NAME_TOKEN_TAIL = re.compile(r"[-_ ]+([^-_ ]{2,16})$")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class NameFields:
    """What a file name like "20200721-开源证券-标题.pdf" says."""

    date: str = ""
    broker: str = ""
    title: str = ""


def parse_filename(filename: str) -> NameFields:
    """Date, broker and title of a report's file name; the title only when the name reads like one."""
    stem = _EXTENSION.sub("", re.split(r"[\\/]", filename)[-1]).strip()
    date = broker = ""
    peeled = True
    while peeled and stem:
        peeled = False
        for date_re in (_NAME_DATE_HEAD, _NAME_DATE_TAIL):
            match = date_re.search(stem)
            if not date and match and _iso(*match.groups()[:3]):
                date = _iso(*match.groups()[:3])
                stem = (stem[: match.start()] + stem[match.end():]).strip("-_ ")
                peeled = True
        for token_re in (_NAME_TOKEN_HEAD, _NAME_TOKEN_TAIL):
            match = token_re.search(stem)
            if not broker and match and _is_broker_token(match.group(1)):
                broker = normalize_broker(match.group(1))
                stem = (stem[: match.start()] + stem[match.end():]).strip("-_ ")
                peeled = True
    title = stem.strip("-_ ")
    if not (date or broker) and len(_CJK.findall(title)) < 4:
        title = ""  # "report_2024" or a hash is not a title
    return NameFields(date=date, broker=broker, title=title)


# --------------------------------------------------------------------------- broker in text

_BIO_WORDS = re.compile(
    r"曾就职|曾任|曾在|曾供职|就职于|任职于|历任|供职于|加入|加盟|毕业于|从业经历|工作经历|工作经验|此前在"
)
_CLAUSE_END = re.compile(r"[。；;，,]")
BIO_CLAUSE_CHARS = 60
_BOOK_TITLE = re.compile(r"《[^《》\n]{0,100}》")
_EMAIL_OR_SITE = re.compile(r"@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)|www\.([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_STRONG_BEFORE = re.compile(
    r"(?:来源|出处|机构)\s*[:：]\s*$|本报告(?:由|仅供|是发送给|仅向)\s*$|"
    r"版权(?:仅|均)?(?:归属于|归属|归|为|属于|属)\s*$"
)
_STRONG_AFTER = re.compile(
    r"^(?:股份有限公司|有限责任公司|有限公司)(?:是|为|经|在|及其|研究所)|^(?:证券)?研究报告评级|^评定"
)
# The rest of a line that holds only the broker's name, as in the address block: "开源证券研究所".
_OWN_LINE_TAIL = re.compile(r"(?:股份有限公司|有限责任公司|有限公司)?(?:研究所|研究部|研究院)?")
_SOURCE_RESEARCH = re.compile(r"来源\s*[:：][^\n]{0,30}$")
_UNKNOWN_BROKER = re.compile(
    r"(?:本报告(?:由|仅供)|版权(?:仅|均)?(?:归属于|归|为|属于)|^\s*(?:来源|出处)\s*[:：]\s*)"
    r"([\u4e00-\u9fff]{2,10}?(?:证券|国际|期货|资管|研究院))"
    r"(?=股份有限公司|有限责任公司|有限公司|研究所|所有|[^\u4e00-\u9fff]|$)",
    re.MULTILINE,
)
STRONG_WEIGHT = 3
DOMAIN_WEIGHT = 2
MENTION_WEIGHT = 1


def _excluded_spans(text: str) -> list[tuple[int, int]]:
    """Spans whose broker names say nothing about the author: titles of other reports and biographies."""
    spans = [m.span() for m in _BOOK_TITLE.finditer(text)]
    for match in _BIO_WORDS.finditer(text):
        # The clause around "曾就职于", across the line breaks a PDF puts anywhere in it.
        floor = max(0, match.start() - BIO_CLAUSE_CHARS)
        before = max(text.rfind(ch, floor, match.start()) for ch in "。；;，,") + 1
        after = _CLAUSE_END.search(text, match.end(), match.end() + BIO_CLAUSE_CHARS)
        spans.append((max(before, floor), after.start() if after else match.end() + BIO_CLAUSE_CHARS))
    return spans


def _inside(position: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start <= position < end for start, end in spans)


def _domain_broker(domain: str) -> str:
    labels = domain.lower().split(".")
    for i in range(len(labels) - 1):
        broker = BROKERS.domains.get(".".join(labels[i:]))
        if broker:
            return broker
    return ""


def broker_from_text(text: str) -> str:
    """The broker a report's own text names as its author, or "" when the evidence is not clear."""
    excluded = _excluded_spans(text)
    mentions: Counter[str] = Counter()
    strong: Counter[str] = Counter()
    for match in BROKERS.pattern.finditer(text):
        start, end = match.span()
        if _inside(start, excluded):
            continue
        name = BROKERS.spellings[match.group()]
        mentions[name] += 1
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end < 0 else line_end
        before = text[max(line_start, start - 12):start]
        after = text[end:min(end + 12, line_end)]
        if (
            _STRONG_BEFORE.search(before)
            or _STRONG_AFTER.search(after)
            or (_SOURCE_RESEARCH.search(text[line_start:start]) and after.startswith("研究"))
            or (not text[line_start:start].strip() and _OWN_LINE_TAIL.fullmatch(text[end:line_end].strip()))
        ):
            strong[name] += 1
    for match in _UNKNOWN_BROKER.finditer(text):
        if not _inside(match.start(1), excluded):
            name = normalize_broker(match.group(1))
            if name not in BROKERS.names:
                strong[name] += 1
    domains: Counter[str] = Counter()
    for match in _EMAIL_OR_SITE.finditer(text):
        name = _domain_broker(match.group(1) or match.group(2))
        if name:
            domains[name] += 1
    candidates = set(strong) | set(domains)
    if not candidates:
        return ""
    scores = {
        name: STRONG_WEIGHT * strong[name]
        + DOMAIN_WEIGHT * min(domains[name], 3)
        + MENTION_WEIGHT * mentions[name]
        for name in candidates
    }
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if len(ranked) > 1 and ranked[0][1] < 2 * ranked[1][1]:
        return ""  # two brokers with evidence of authorship: do not guess
    return ranked[0][0]


# --------------------------------------------------------------------------- analysts

_NAME = r"[\u4e00-\u9fff]{2,4}(?:·[\u4e00-\u9fff]{1,6})?"
# Starts with its literal so that scanning is fast; what precedes it is checked in _label_starts_clause.
_ANALYST_LABEL = re.compile(
    rf"分析师(?:\s*[:：]\s*|[ \t]+)((?:{_NAME})(?:[ \t、]+(?:{_NAME}))*)(?=[\s，,；;（(|｜、]|$)"
)
# "分析师" alone on a line with the name on the next one, as PDF text of a sidebar gives it.
_ANALYST_ABOVE = re.compile(rf"分析师[ \t]*\r?\n[ \t]*({_NAME})[ \t]*(?=\r?\n)")
_ANALYST_SUFFIX = re.compile(rf"^[ \t]*({_NAME})[ \t]*[（(]\s*分析师\s*[)）]", re.MULTILINE)
_SAC = re.compile(r"S\d{13}(?!\d)")
_NOT_A_NAME = re.compile(
    r"声明|承诺|简介|介绍|证明|姓名|团队|本人|署名|报告|证券|研究|公司|行业|执业|资格|编号|助理|联系"
)
SAC_WINDOW = 600


def _names_in(group: str) -> list[str]:
    return [n for n in re.split(r"[ \t、]+", group) if n and not _NOT_A_NAME.search(n)]


def _label_starts_clause(text: str, start: int) -> bool:
    """True for "分析师：" at a line or clause start, or as "证券分析师："; not for "署名分析师"."""
    if text[max(0, start - 2):start] == "证券":
        start -= 2
    return start == 0 or text[start - 1] in " \t\n\r，,；;|｜:：]】"


def analysts_from_text(text: str) -> tuple[Analyst, ...]:
    """Analysts named in the text, each paired with the SAC number that follows it."""
    events: list[tuple[int, str, str]] = []  # (position, "name" | "sac", value)
    for match in _ANALYST_LABEL.finditer(text):
        if _label_starts_clause(text, match.start()):
            events.extend((match.start(1), "name", name) for name in _names_in(match.group(1)))
    for match in _ANALYST_ABOVE.finditer(text):
        if _label_starts_clause(text, match.start()):
            events.extend((match.start(1), "name", name) for name in _names_in(match.group(1)))
    for match in _ANALYST_SUFFIX.finditer(text):
        events.extend((match.start(1), "name", name) for name in _names_in(match.group(1)))
    if not events:
        return ()
    events.extend((m.start(), "sac", m.group()) for m in _SAC.finditer(text))
    events.sort()
    sacs: dict[str, str] = {}
    order: list[str] = []
    names: list[str] = []
    last_name_at = 0
    pending: list[str] = []

    def pair() -> None:
        if len(names) == 1 and pending:
            sacs.setdefault(names[0], pending[0])
        elif names and len(pending) >= len(names):
            for name, sac in zip(names, pending):
                sacs.setdefault(name, sac)

    for position, kind, value in events:
        if kind == "name":
            if pending:
                pair()
                names, pending = [], []
            names.append(value)
            last_name_at = position
            if value not in order:
                order.append(value)
        elif names and position - last_name_at <= SAC_WINDOW:
            pending.append(value)
    pair()
    return tuple(Analyst(name, sacs.get(name, "")) for name in order[:12])


# --------------------------------------------------------------------------- stock codes

# Codes are found from their exchange suffix, which is rare in the text, and then read backwards.
_CODE_SUFFIX = re.compile(r"\.((?i:SH|SZ|BJ|CH|HK)|TW|TT|US|O|N)(?![A-Za-z0-9.])")
_CODE_BY_SUFFIX = {
    "SH": re.compile(r"(?<![0-9A-Za-z.])\d{6}$"),
    "HK": re.compile(r"(?<![0-9A-Za-z.])\d{1,5}$"),
    "TW": re.compile(r"(?<![0-9A-Za-z.])\d{4}$"),
    "US": re.compile(r"(?<![0-9A-Za-z.])[A-Z]{1,5}$"),
    "O": re.compile(r"(?<![0-9A-Za-z.])[A-Z]{2,5}$"),
}
for _alias, _same in (("SZ", "SH"), ("BJ", "SH"), ("CH", "SH"), ("TT", "TW"), ("N", "O")):
    _CODE_BY_SUFFIX[_alias] = _CODE_BY_SUFFIX[_same]


def stock_codes_from_text(text: str) -> tuple[str, ...]:
    """Stock codes with an exchange suffix, in order of first appearance: "1810.HK", "002594.SZ"."""
    codes: dict[str, None] = {}
    for match in _CODE_SUFFIX.finditer(text):
        suffix = match.group(1).upper()
        code = _CODE_BY_SUFFIX[suffix].search(text, max(0, match.start() - 6), match.start())
        if code:
            codes.setdefault(f"{code.group()}.{suffix}", None)
    return tuple(codes)


# --------------------------------------------------------------------------- header fields


def _date_from_lines(lines: list[str]) -> str:
    for line in lines:
        if line and _is_date_line(line):
            date = _date_of_match(_DATE.search(line))
            if date:
                return date
    return ""


_DATE_LABEL = re.compile(r"(?:发布|报告|撰写)(?:日期|时间)|^日期")


def cover_date(lines: list[str]) -> str:
    """The date of a report from its cover: a labelled date, else the latest date standing alone.

    A cover lists the dates of related reports too; those are older than the report itself.
    """
    labelled, alone = [], []
    for line in lines:
        match = _DATE.search(line) if line else None
        if not match or not _date_of_match(match):
            continue
        if _DATE_LABEL.search(_compact(line[: match.start()])):
            labelled.append(_date_of_match(match))
        elif _is_date_line(line) or _is_date_in_header(line, match):
            alone.append(_date_of_match(match))
    if labelled:
        return labelled[0]
    return max(alone, default="")


_RANGE_END = re.compile(r"(?:至|到|~|～|—|－)\s*" + _DATE.pattern.replace("(?<![\\d.\\-/—])", ""))
RANGE_END_SLACK_DAYS = 7


def _latest_range_end(text: str) -> str:
    """The latest day a period in the text ends on ("…至 2022 年 4 月 15 日的数据"), less a week's slack.

    A report is written after the data it studies: its own date cannot be earlier.
    """
    latest = ""
    for match in _RANGE_END.finditer(text):
        day = _iso(match.group(1), match.group(2) or match.group(5), match.group(3) or match.group(6))
        latest = max(latest, day)
    if not latest:
        return ""
    return (dt.date.fromisoformat(latest) - dt.timedelta(days=RANGE_END_SLACK_DAYS)).isoformat()


def _is_date_in_header(line: str, match: re.Match[str]) -> bool:
    """A running header that ends with the date: "金工研究/深度研究 | 2019 年 09 月 27 日"."""
    before = line[: match.start()].rstrip()
    return bool(before) and before[-1] in "|｜" and not line[match.end():].strip()


def _rating_from_text(header: str) -> tuple[str, str]:
    found = []
    for pattern, rating_group, action_group in (
        (_RATING_LABELED, 1, 2),
        (_RATING_WITH_ACTION, 1, 2),
        (_RATING_IN_SENTENCE, 2, 1),
    ):
        match = pattern.search(header)
        if match:
            found.append((match.start(), match.group(rating_group), match.group(action_group) or ""))
    if not found:
        return "", ""
    _, rating, action = min(found)
    return rating, _ACTIONS.get(action, "")


def parse_rating(value: str) -> tuple[str, str]:
    """Rating and action of a string like "买入（维持）" or "维持增持"; a bare value is kept as it is."""
    value = _compact(str(value))
    for pattern, rating_group, action_group in (
        (_RATING_WITH_ACTION, 1, 2),
        (_RATING_LABELED, 1, 2),
    ):
        match = pattern.search(value)
        if match:
            return match.group(rating_group), _ACTIONS.get(match.group(action_group) or "", "")
    match = re.fullmatch(rf"({_ACTION})?{_Q_OPEN}({_RATING}){_Q_CLOSE}(?:评级)?", value)
    if match:
        return match.group(2), _ACTIONS.get(match.group(1) or "", "")
    return value, ""


def _industry_from_lines(lines: list[str], title: str) -> str:
    """Industry of a cover: "行业：汽车", a title "计算机行业周报", a top line "汽车" or "计算机行业事件点评"."""
    top = [line for line in lines if line][:8]
    for line in top:
        match = _INDUSTRY_LABELED.search(line) if len(line) <= 24 else None
        if match and not _BULLET.match(line):
            return match.group(1).removesuffix("行业")
    match = _INDUSTRY_BEFORE_HANGYE.search(title)
    if match:
        return match.group(1)
    for line in top:
        compact = _compact(line)
        if len(compact) > 24 or _NOT_A_COVER_TAG.search(compact):
            continue
        if _BULLET.match(compact) or _SECTION_NUMBER.match(line):
            continue
        for token in re.split(r"[|｜/·\s]+", line):
            if token.removesuffix("行业") in INDUSTRIES and token != "证券":
                return token.removesuffix("行业")
        match = _INDUSTRY_BEFORE_HANGYE.match(compact)
        if match and _REPORT_KIND.search(compact):
            return match.group(1)
    return ""


# --------------------------------------------------------------------------- front matter

_FM_BROKER_KEYS = ("broker", "institution", "机构", "organization", "org")
_FM_ANALYST_KEYS = ("analysts", "analyst", "authors", "author", "作者", "分析师")
_FM_INDUSTRY_KEYS = ("industry", "行业")
_FM_CATEGORY_KEYS = ("category", "categories", "tags")


def _fm_value(front_matter: dict, keys: Iterable[str]) -> Any:
    for key in keys:
        value = front_matter.get(key)
        if value not in (None, "", [], ()):
            return value
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _fm_text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list, tuple)):
        return ""
    return _SPACES.sub(" ", str(value)).strip()


def _fm_broker(front_matter: dict) -> str:
    name = _fm_text(_fm_value(front_matter, _FM_BROKER_KEYS))
    if name:
        return normalize_broker(name)
    # "source" is often a portal or a URL: only a broker-like value counts.
    source = _fm_text(front_matter.get("source"))
    token = _compact(source)
    if token and "/" not in token and _is_broker_token(normalize_broker(token)):
        return normalize_broker(token)
    return ""


def _fm_analysts(front_matter: dict) -> tuple[Analyst, ...]:
    analysts: list[Analyst] = []
    for item in _as_list(_fm_value(front_matter, _FM_ANALYST_KEYS)):
        if isinstance(item, str) and item.startswith("{"):
            # a mapping in the front matter ("- name: 任浪\n  sac: S0790519100001"): documents.py
            # keeps front-matter values as text, so it arrives as JSON
            try:
                item = json.loads(item)
            except ValueError:
                pass
        if isinstance(item, dict):
            name = _fm_text(item.get("name"))
            if name:
                analysts.append(Analyst(name, _fm_text(item.get("sac"))))
            continue
        for part in re.split(r"[,，、;；/]+|\s{1,}", _fm_text(item)):
            sac = _SAC.search(part)
            name = _SAC.sub("", part).strip("（）() ")
            if name:
                analysts.append(Analyst(name, sac.group() if sac else ""))
    return tuple(analysts)


def _fm_industry(front_matter: dict) -> str:
    industry = _fm_text(_fm_value(front_matter, _FM_INDUSTRY_KEYS))
    if industry:
        return industry
    # Categories and tags are free-form ("hibor", "行业分析"): only a known industry counts.
    for key in _FM_CATEGORY_KEYS:
        for item in _as_list(front_matter.get(key)):
            value = _fm_text(item)
            if value in INDUSTRIES or value.removesuffix("行业") in INDUSTRIES:
                return value.removesuffix("行业")
    return ""


def _merge_analysts(primary: tuple[Analyst, ...], found: tuple[Analyst, ...]) -> tuple[Analyst, ...]:
    if not primary:
        return found
    sacs = {a.name: a.sac for a in found if a.sac}
    return tuple(a if a.sac else Analyst(a.name, sacs.get(a.name, "")) for a in primary)


# --------------------------------------------------------------------------- entry point


def extract_metadata(text: str, front_matter: dict, filename: str, cover_title: str = "",
                     cover_lines: Iterable[str] = ()) -> ReportMeta:
    """Metadata of one report: front matter first, then the text itself, then the file name.

    `cover_title`: a PDF's title read from its cover by type size; `cover_lines`: its first page,
    running headers included (indexer.pdftext).
    """
    front_matter = front_matter if isinstance(front_matter, dict) else {}
    name = parse_filename(filename or "")
    header = read_header(text)
    lines = header.lines

    first_line = _first_line_title(lines)
    title = (_fm_text(front_matter.get("title")) or cover_title or first_line
             or _choose_title(_title_from_header(header), name.title))
    title_date = _DATE.match(_compact(first_line))
    date = parse_date(front_matter.get("date")) or name.date
    if not date:
        date = (cover_date([_clean_line(l) for l in cover_lines])
                or (_date_of_match(title_date) if title_date else "") or _date_from_lines(lines))
        if date and date < _latest_range_end(text):
            date = ""  # a cover that predates the data it reports misprints its date: better none than wrong
    broker = _fm_broker(front_matter) or name.broker or broker_from_text(text)

    rating, action = "", ""
    fm_rating = _fm_text(front_matter.get("rating"))
    if fm_rating:
        rating, action = parse_rating(fm_rating)
        action = _fm_text(front_matter.get("rating_action")) or action
    else:
        rating, action = _rating_from_text("\n".join(lines))

    industry = _fm_industry(front_matter) or _industry_from_lines(lines, title)
    analysts = _merge_analysts(_fm_analysts(front_matter), analysts_from_text(text))
    return ReportMeta(
        title=clean_inline(title),
        date=date,
        broker=broker,
        analysts=analysts,
        rating=rating,
        rating_action=action,
        industry=industry,
        stock_codes=stock_codes_from_text(text),
    )
