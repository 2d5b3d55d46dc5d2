"""The demo district's data: its communities and logins, the names people get, what the teams do, the events,
needs, market shelf and honour reasons the loader writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta

__all__ = [
    "COMMUNITIES", "DEMO_CODE", "DEMO_PASSWORD", "EVENTS", "GIVEN", "HISTORY_DAYS", "HONOUR_REASONS", "LOGINS",
    "MARKET", "NEEDS", "NEWCOMERS", "SERVICES", "SOON", "SURNAMES", "TEAMS", "VOLUNTEER",
]

DEMO_CODE = "DEMO-DISTRICT"
DEMO_PASSWORD = "demo12345"  # noqa: S105 - published on purpose: demo logins are printed

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["秀英", "桂兰", "建国", "志强", "丽娟", "海燕", "国华", "红梅", "德明", "淑珍", "文斌", "玉兰",
         "春生", "美玲", "立新", "翠花", "永福", "慧敏", "振华", "晓东"]

#: (street, community, head titles or None for the defaults)
COMMUNITIES = [
    ("东风街道", "银融社区", None),
    ("东风街道", "五里堆社区", ["片长", "组长", "邻长"]),
    ("南湖街道", "南湖社区", None),
]

#: How far back the demo's history goes: eighteen months.
HISTORY_DAYS = 540
#: How soon after seeding the scheduler (`make run` starts it) moves the demo on by itself: an event of 南湖社区
#: ends and is closed into service and points, and its good-neighbour campaign's voting opens.
SOON = timedelta(minutes=3)

LOGINS = [
    ("13800000000", "管理员 admin", "administrator, whole district"),
    ("13800000101", "银融社区 staff", "community staff"),
    ("13800000102", "五里堆社区 staff", "community staff (片长/组长/邻长)"),
    ("13800000103", "南湖社区 staff", "community staff"),
    ("13800000201", "东风街道 staff", "street staff"),
    ("13900010000", "grid head", "银融社区 第一网格"),
    ("13900010002", "unit head", "银融社区 第一网格 1号楼 1单元"),
    ("13700000001", "volunteer", "银融社区"),
]


SERVICES = [("elderly_care", "敬老助餐", "为独居老人送午餐"), ("environment", "楼道清扫", "清理楼道杂物和小广告"),
            ("environment", "垃圾分类督导", "在投放点指导居民分类"), ("patrol", "夜间巡逻", "小区夜间安全巡查"),
            ("culture", "义务理发", "为老人免费理发"), ("health", "陪同就医", "陪同行动不便的老人就医"),
            ("other", "政策宣传", "入户宣传医保缴费政策"), ("repairs", "家电维修", "上门维修电视和电饭煲")]


@dataclass(frozen=True)
class _TeamPlan:
    name: str
    category: str
    services: str
    place: str
    #: What the team goes out to do: (category, activity, content).
    work: tuple[tuple[str, str, str], ...]
    #: When it usually starts, Beijing time.
    clocks: tuple[time, ...]


TEAMS = (
    _TeamPlan("银发助老队", "elderly_care", "送餐上门\n陪同就医\n代购药品", "独居老人家中",
              (("elderly_care", "送餐上门", "为独居老人送午餐，陪老人聊天"),
               ("health", "陪同就医", "陪同老人到社区卫生服务中心复诊取药"),
               ("elderly_care", "代购药品", "为行动不便的老人代购常用药品")), (time(9, 30), time(14, 0))),
    _TeamPlan("平安巡逻队", "patrol", "夜间巡逻\n消防隐患排查", "小区各楼栋及周边",
              (("patrol", "夜间巡逻", "小区夜间安全巡查，检查门禁和路灯"),
               ("safety", "消防隐患排查", "检查楼道堆物、电动车违规充电和消防通道")), (time(19, 0), time(19, 30))),
)


@dataclass(frozen=True)
class _EventPlan:
    kind: str
    title: str
    place: str
    category: str
    description: str
    #: Days from today (Beijing): below zero it has happened and is closed, 0 with no start is on right now.
    days: int
    starts: time | None
    minutes: int
    #: Points for attending whatever the minutes; None: the category's points per hour.
    fixed: int | None = None
    capacity: int | None = None
    registration: bool = False
    #: Who comes: "volunteers" (the demo volunteer among them), "heads", or "neighbours" (anyone but the
    #: demo logins, who are left to try checking in themselves).
    who: str = "volunteers"
    size: int = 0
    #: Organised by the head of the first grid for the grid, instead of by community staff.
    by_grid_head: bool = False
    #: On now and ending SOON after seeding, its check-in closing at the end: the scheduler closes it then.
    ends_soon: bool = False


EVENTS: dict[int, list[_EventPlan]] = {
    0: [
        _EventPlan("activity", "社区环境大扫除", "银融社区中心广场及各楼栋", "environment",
                   "清理楼道堆物、绿化带垃圾和小广告", -58, time(9, 0), 150, size=12),
        _EventPlan("training", "三长分级培训（第二期）：入户走访与矛盾调解", "银融社区党群服务中心二楼会议室", "other",
                   "街道司法所讲解入户走访要点和邻里矛盾调解方法", -34, time(14, 30), 120, fixed=20, capacity=30,
                   registration=True, who="heads", size=11),
        _EventPlan("meeting", "第一网格议事会：小区停车秩序协商", "银融社区议事厅", "other",
                   "网格长主持，居民代表协商停车位划线和收费方案", -12, time(19, 0), 90, fixed=10, who="neighbours",
                   size=7, by_grid_head=True),
        _EventPlan("activity", "便民服务日：义诊、理发、磨刀修伞", "银融社区中心广场", "health",
                   "社区卫生服务站医生义诊，志愿者为居民理发、磨刀、修伞", 0, None, 240, who="neighbours", size=4),
        _EventPlan("activity", "亲子非遗剪纸课", "银融社区少儿之家", "culture", "剪纸传承人带领家长和孩子学剪窗花",
                   3, time(9, 30), 120, capacity=12, registration=True, size=7),
        _EventPlan("training", "消防安全与应急救护培训", "银融社区党群服务中心一楼大厅", "safety",
                   "消防站教官演示灭火器使用，红十字会培训心肺复苏", 6, time(14, 30), 120, fixed=15),
    ],
    1: [
        _EventPlan("activity", "垃圾分类宣传进楼栋", "五里堆社区各楼栋垃圾投放点", "environment",
                   "在投放点发放宣传册，指导居民分类投放", -27, time(18, 30), 90, size=8),
        _EventPlan("meeting", "片长、组长、邻长联席会议", "五里堆社区会议室", "other",
                   "通报近期居民诉求办理情况，布置下一阶段的安全巡查", 2, time(15, 0), 90, fixed=10),
    ],
    2: [
        _EventPlan("activity", "南湖环湖净滩行动", "南湖公园北门", "environment", "沿湖捡拾垃圾，劝导不文明垂钓",
                   -45, time(8, 30), 150, size=9),
        _EventPlan("training", "三长分级培训（第一期）：网格巡查与信息上报", "南湖社区党群服务中心", "other",
                   "讲解网格巡查路线、隐患上报流程和居民信息保护", -16, time(14, 0), 120, fixed=20, who="heads",
                   size=6),
        _EventPlan("activity", "南湖社区敬老院探访", "南湖社区敬老院", "elderly_care", "陪老人聊天、读报、剪指甲",
                   0, None, 60, size=5, ends_soon=True),
    ],
}


#: Needs residents post (category, title, what is wrong, what was done about it), and the state each demo need is
#: left in with how many days ago it was posted. "recorded": a head wrote it down at the door for a neighbour
#: without a smartphone; staff approve it after a call.
NEEDS = (
    ("plumbing", "厨房水管漏水", "水槽下面的水管接头一直滴水，地上积了一层水。", "更换了水管接头和密封圈，试水不漏了。",
     "approved", 55),
    ("repairs", "楼道声控灯不亮", "三楼到五楼的楼道灯坏了一个星期，晚上上下楼看不清。", "联系物业换了三个声控灯泡。",
     "approved", 44),
    ("elderly_help", "独居老人需要助餐", "楼下王奶奶腿脚不便，子女在外地，想请人帮忙送午饭。",
     "助老队排了班，队员每天中午送餐上门。", "approved", 33),
    ("safety_hazard", "电动车在楼道充电", "一楼有人把电动车推进楼道拉线充电，晚上也不拔，担心起火。",
     "上门劝导，车主已改到小区集中充电桩充电。", "approved", 26),
    ("dispute", "楼上夜间噪音", "楼上邻居晚上十一点以后还在拖动家具，孩子睡不好。",
     "楼栋长上门沟通，双方约定晚上十点以后不再搬动家具。", "approved", 17),
    ("environment", "垃圾桶满了没人清运", "东门的垃圾桶两天没有清运，气味很大。", "联系环卫站加派清运车，已清理干净。",
     "approved", 9),
    ("policy", "咨询灵活就业医保缴费", "想问一下灵活就业人员今年医保怎么缴、去哪里办。",
     "上门讲解了缴费标准，帮老人在手机上办好了缴费。", "recorded", 12),
    ("plumbing", "卫生间下水道堵了", "马桶和地漏都不下水，家里有老人，比较着急。", "", "withdrawn", 20),
    ("repairs", "单元门禁刷卡没反应", "单元门的门禁刷卡和密码都不好用，门一直关不上。", "报修物业更换了门禁控制板。",
     "confirmed", 4),
    ("elderly_help", "陪同老人去医院复查", "父亲周二要去市医院复查，我上班走不开，想请志愿者陪同。",
     "志愿者陪同老人做完复查，取了药，送回家中。", "done", 2.5),
    ("safety_hazard", "楼道堆放杂物", "二楼楼道堆了纸箱和旧家具，挡住了消防通道。", "和住户一起清理了一部分杂物。",
     "reopened", 6),
    ("other", "小区路灯不亮", "3号楼前的路灯坏了，晚上散步不安全。", "", "claimed", 1.2),
    ("environment", "绿化带有人种菜", "楼前的绿化带被挖开种了菜，还浇粪水，味道很大。", "", "open", 3.5),
    ("repairs", "单元门口台阶松动", "单元门口第二级台阶的石板松了，老人上下容易绊倒。", "", "open", 0.25),
)


#: The market's shelf: (name, category, price, stock or None for a service, limit, period, sponsor, description).
#: Sponsors are the local merchants (好商家) who donate what they sponsor; the rest the community buys.
MARKET = (
    ("东北大米 5kg", "goods", 60, 30, 1, "month", "好邻居粮油店", "当季新米，真空包装，一人每月限兑一袋。"),
    ("金龙鱼食用油 1.8L", "goods", 50, 24, 1, "month", None, "社区统一采购。"),
    ("立白洗衣液 2kg", "goods", 30, 40, 2, "month", "惠民生活超市", None),
    ("纯棉毛巾两条装", "goods", 20, 50, None, None, None, None),
    ("义务理发一次", "service", 20, None, 1, "month", "阿芳美发店", "每周二、周四上午在社区活动室，凭取货码理发。"),
    ("家电上门维修一次（不含配件）", "service", 40, None, 1, "quarter", "老张家电维修部",
     "电视、洗衣机、电饭煲等小家电，兑换后电话预约上门时间。"),
    ("老年食堂午餐券（5 餐）", "privilege", 50, 60, 2, "month", "幸福里老年食堂",
     "凭券在社区老年食堂就餐，三个月内有效。"),
    ("社区活动室优先预约（半天）", "privilege", 20, None, 1, "quarter", None, "家庭聚会、兴趣小组活动可用。"),
    ("惠民超市 20 元代金券", "goods", 40, 10, 1, "quarter", "惠民生活超市", "限在惠民生活超市使用，不找零。"),
)


VOLUNTEER = LOGINS[-1][0]


HONOUR_REASONS = ["每天巡查楼道，及时清理堆放杂物和小广告", "组织邻里互助小组，常年帮独居老人买菜取药",
                  "防汛期间连续值守三十多天，转移老人十余人次", "调解邻里纠纷十余起，居民都说他公道热心",
                  "带头做垃圾分类督导，楼栋分类准确率全社区第一", "自费为楼道安装感应灯，夜里出行不再摸黑",
                  "坚持入户走访，每户情况都记在小本子上", "教老年人用智能手机挂号、缴费，耐心细致"]
#: Accounts made the day before they vote together for one nominee: the pattern staff are warned of.
NEWCOMERS = ["钱小磊", "冯晓雨", "韩梦琪", "曹子轩", "邓雨桐"]
