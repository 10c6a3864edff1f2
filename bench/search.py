"""Benchmark: searching tickets (tickets/search.py) on a large store (prints figures; not a test).

    .venv/bin/python -m bench.search                         # SQLite: 100k customers, 1M interactions
    .venv/bin/python -m bench.search --store postgresql      # the same on a private PostgreSQL
    .venv/bin/python -m bench.search --customers 10000 --interactions 100000 --searches 50
    .venv/bin/python -m bench.search --url URL                # a store of your own: filled if empty

Run from the repository root (PostgreSQL: as root or a user that may run initdb; a private server
from tests/support/pgcluster.py on 127.0.0.1, port CALLCENTER_TEST_PORT_BASE + 632, removed at
the end). The store is filled in bulk before anything is timed:

  --customers customers (70 % English names, 30 % Chinese), each with a phone and an email, and two
  tickets each (queues support / sales / billing, every status, 5 % at risk and 3 % breached);
  --interactions interactions on them, half voice calls (no text) and half texts with realistic
  lengths: SMS and chat 20-160 characters, voicemail transcripts 100-400, emails 300-1,500 with a
  subject; half of the texts English, half Chinese, made of a customer-service phrase book with
  order numbers, products and places, so common words are common and rare ones rare. Every text is
  segmented (tickets/terms.py, in --workers processes) and indexed as the store's writers do.

Then --searches searches of each kind through `TicketCore.search.tickets` (what GET /api/inbox?q=
runs), each a random pick of its kind, as a supervisor (every ticket visible) unless said:

  number        `#123` of an existing ticket
  phone         a customer's number in a national format, `(415) 200-1234` (stored in E.164)
  email         a customer's address, upper-cased
  name          part of a customer's name (a surname: many match; a Chinese given name)
  english word  a word of the phrase book (refund, invoice, password, ...: 1-5 % of texts)
  chinese word  物流, 退款, 发票, ... (1-5 % of the Chinese texts)
  word+filters  an English word, status open, queue support, as an agent of two queues
  no match      a word no text holds
  common word   `the` / `您好`: in most texts of their language (the worst case, for the record)

and prints p50 / p95 / max per kind next to the 200 ms budget (p95 ≤ budget: ok).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from bench._harness import percentile
from bench.store import phone_of
from callcenter.tickets import db, terms
from callcenter.tickets.core import TicketCore
from callcenter.tickets.schema import Customer, CustomerIdentity, Interaction, SearchDoc, Ticket

BUDGET_MS = 200.0
BATCH = 20_000
DAY = 86400.0
QUEUES = ("support", "sales", "billing")
STATUSES = ("new", "open", "open", "pending", "resolved", "closed")

FIRST = ("James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph "
         "Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark Sandra Donald Ashley Steven "
         "Kimberly Paul Emily Andrew Donna Joshua Michelle Kevin Carol Brian Amanda George Melissa Edward Deborah").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
        "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
        "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall").split()
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉")

# A message is about one thing (one sentence of TOPICS_*, two in a long email) said among words
# any message has (FILLER_*): a topic's words are in a few percent of the texts, "the" in most.
TOPICS_EN = [
    "Where is my package? The tracking has not moved for three days.", "Can you check the delivery status?",
    "I would like a refund for the {product} I bought last week.", "The {product} arrived broken, the screen is cracked.",
    "Can you send me the invoice for order {order}?", "I was charged twice on my credit card.",
    "I cannot log in, the password reset email never arrives.", "Please cancel my subscription from next month.",
    "The delivery was left at the wrong address in {city}.", "When will the {product} be back in stock?",
    "I need to change the shipping address to {city}.", "My account was locked after too many attempts.",
    "The courier says nobody was home but I was there all day.", "Could you call me back this afternoon?",
    "I still have not received my refund, it has been two weeks.", "The warranty should cover this repair.",
    "Is there a discount for a second {product}?", "Your app crashes every time I open the payment page.",
    "I want to return the {product}, it does not fit.", "The battery of my {product} drains in two hours.",
    "Please update the phone number on my account.", "I got an error code E{code} when paying.",
    "The technician never showed up for the installation.", "How long does an exchange usually take?",
    "I was promised a callback yesterday and nobody called.", "The bill this month is much higher than usual.",
    "Please confirm that my complaint was registered.", "Is the store in {city} open on Sunday?",
    "The voucher code {code} is not accepted at checkout.", "My loyalty points disappeared from the account.",
    "The parcel was delivered to a neighbour without asking me.",
]
FILLER_EN = [
    "Hi,", "Hello,", "Good morning,", "Thanks.", "Thank you in advance.", "Best regards.", "Kind regards.",
    "My order number is {order}.", "It is about order {order}.", "I live in {city}.", "I bought it in {city}.",
    "I have been a customer for {n} years.", "This is the {n}th time I write to you.", "Please reply soon.",
    "I tried again this morning and it is the same.", "You can reach me on this number.", "Sorry for the long message.",
    "It was a gift for my {relative}.", "My {relative} ordered it for me.", "The reference on the box is {ref}.",
    "I attach a photo.", "Nobody answered the chat yesterday.", "I hope you can help me.", "This is urgent for me.",
]
TOPICS_ZH = [
    "我的快递三天了还没有更新，请帮忙看看。", "我想查询一下物流状态。", "我上周买的{product}想申请退款。",
    "收到的{product}屏幕是碎的，怎么处理？",
    "麻烦开一张订单{order}的发票。", "我的信用卡被重复扣款了。", "登录不了，重置密码的邮件一直收不到。",
    "请从下个月开始取消我的订阅。", "快递送到了{city}的错误地址。", "{product}什么时候有货？",
    "我需要把收货地址改成{city}。", "账号因为多次输错密码被锁定了。", "快递员说家里没人，但是我一整天都在家。",
    "今天下午可以给我回个电话吗？", "退款两个星期了还没有到账。", "这个维修应该在保修范围内吧？",
    "买第二台{product}有优惠吗？", "你们的应用一打开支付页面就闪退。", "{product}不合适，我想退货。",
    "{product}的电池两个小时就没电了。", "请更新我账户上的手机号码。", "付款的时候出现错误代码E{code}。",
    "安装师傅一直没有上门。", "换货一般需要多长时间？", "昨天说好给我回电话，结果没人打。", "这个月的账单比平时高很多。",
    "请确认我的投诉已经登记了。", "{city}的门店星期天营业吗？", "优惠券{code}结账的时候用不了。",
    "我账户里的积分不见了。", "包裹没经过我同意就放在邻居家了。",
]
FILLER_ZH = [
    "您好，", "你好，", "早上好，", "谢谢。", "麻烦了。", "辛苦了。", "订单号是{order}。", "是关于订单{order}的。",
    "我住在{city}。", "是在{city}买的。", "我是老客户了，买了{n}年。", "这是我第{n}次联系你们。", "请尽快回复。",
    "今天早上又试了一次，还是一样。", "可以打这个号码找我。", "不好意思说了这么多。", "是送给{relative}的礼物。",
    "是{relative}帮我下的单。", "盒子上的编号是{ref}。", "我附上了照片。", "昨天在线客服没人回复。", "希望你们能帮帮我。",
    "这件事比较急。",
]
RELATIVES_EN = ["mother", "father", "sister", "brother", "son", "daughter", "wife", "husband", "friend", "boss"]
RELATIVES_ZH = ["妈妈", "爸爸", "姐姐", "哥哥", "儿子", "女儿", "老婆", "老公", "朋友", "老板"]
PRODUCTS_EN = ["phone", "laptop", "headset", "router", "tablet", "charger", "camera", "printer", "speaker", "watch"]
PRODUCTS_ZH = ["手机", "笔记本电脑", "耳机", "路由器", "平板", "充电器", "相机", "打印机", "音箱", "手表"]
CITIES_EN = ["Boston", "Denver", "Seattle", "Austin", "Chicago", "Portland", "Phoenix", "Atlanta", "Dallas", "Miami"]
CITIES_ZH = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆"]
LENGTHS = {"sms": (20, 160), "chat": (20, 160), "voicemail": (100, 400), "email": (300, 1500)}
SUBJECTS_EN = ["Order {order}", "Refund request", "Problem with my {product}", "Invoice", "Delivery to {city}"]
SUBJECTS_ZH = ["订单{order}", "退款申请", "{product}有问题", "发票", "送货到{city}"]

WORDS = {"english word": ["refund", "invoice", "password", "delivery", "warranty", "courier", "subscription",
                          "discount", "battery", "technician"],
         "chinese word": ["物流", "退款", "发票", "密码", "快递", "保修", "订阅", "优惠", "电池", "投诉"],  # 物流: one topic
         "common word": ["the", "您好"]}


def _fill_in(template: str, rng: random.Random, chinese: bool) -> str:
    return template.format(order=rng.randint(100000, 999999), code=rng.randint(100, 999), n=rng.randint(2, 20),
                           ref=f"{rng.choice('ABCDEFGHJK')}{rng.randint(10000, 99999)}",
                           product=rng.choice(PRODUCTS_ZH if chinese else PRODUCTS_EN),
                           relative=rng.choice(RELATIVES_ZH if chinese else RELATIVES_EN),
                           city=rng.choice(CITIES_ZH if chinese else CITIES_EN))


def _text(rng: random.Random, channel: str, chinese: bool) -> tuple[str, str]:
    """(subject, body) of one message of `channel`, its length in the channel's range: one topic
    (two in an email, now and then) among filler."""
    low, high = LENGTHS[channel]
    want = rng.randint(low, high) // (3 if chinese else 1)  # a Chinese character says about 3 English letters
    topics, filler = (TOPICS_ZH, FILLER_ZH) if chinese else (TOPICS_EN, FILLER_EN)
    parts = [_fill_in(rng.choice(topics), rng, chinese) for _ in range(2 if channel == "email" and rng.random() < 0.3
                                                                         else 1)]
    while sum(map(len, parts)) < want:
        parts.insert(rng.randint(0, len(parts)), _fill_in(rng.choice(filler), rng, chinese))
    body = ("" if chinese else " ").join(parts)
    subject = _fill_in(rng.choice(SUBJECTS_ZH if chinese else SUBJECTS_EN), rng, chinese) if channel == "email" else ""
    return subject, body


def _chunk(start: int, end: int, tickets: int, customers: int, now: float, sqlite: bool) -> tuple[list[dict[str, Any]],
                                                                                                  list[dict[str, Any]]]:
    """Interactions start+1..end (half voice, half texts) and the index rows of the texts: what a
    worker process makes (seeded by `start`: the same store every run)."""
    rng = random.Random(start)
    rows, docs = [], []
    for n in range(start + 1, end + 1):
        ticket = rng.randint(1, tickets)
        customer = (ticket + 1) // 2
        at = now - rng.random() * 90 * DAY
        base = {"id": n, "ticket_id": ticket, "customer_id": customer, "direction": "inbound", "step": "ended",
                "started_at": at, "ended_at": at + 60, "address": phone_of(customer), "name": "", "call_id": "",
                "did": "8005550100", "flow": "", "ivr_path": [], "variables": {}, "queue": QUEUES[ticket % 3],
                "agent": "", "hangup_cause_text": "", "hung_up_by": "", "abandoned": False, "callback_of": "",
                "callback_request": "", "record": {}, "reconciled": False, "recording_path": "",
                "recording_sha256": "", "recording_problem": "", "subject": "", "body": "", "transcript": {},
                "external_id": "", "delivery_status": ""}
        if n % 2:
            rows.append({**base, "channel": "voice", "call_id": f"bench.{n}"})
            continue
        channel = rng.choice(("sms", "chat", "voicemail", "email"))
        subject, body = _text(rng, channel, chinese=rng.random() < 0.5)
        rows.append({**base, "channel": channel, "subject": subject, "body": body})
        found = terms.doc_terms(subject, body)
        docs.append({"interaction_id": n, "ticket_id": ticket, "terms": " ".join(found) if sqlite else found})
    return rows, docs


async def fill(core: TicketCore, customers: int, interactions: int, workers: int) -> tuple[float, float]:
    """The store filled in bulk; (seconds, seconds of it spent making and segmenting the texts)."""
    t0 = time.perf_counter()
    now, rng = time.time(), random.Random(1)
    tickets = customers * 2
    sqlite = core.store.sqlite
    async with core.store.engine.begin() as conn:
        for start in range(0, customers, BATCH):
            ids = range(start + 1, min(customers, start + BATCH) + 1)
            names = {}
            for i in ids:
                if rng.random() < 0.3:
                    names[i] = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))
                else:
                    names[i] = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            await conn.execute(insert(Customer), [{"id": i, "name": names[i], "unidentified": False, "tags": [],
                                                   "created_at": now, "updated_at": now} for i in ids])
            await conn.execute(insert(CustomerIdentity), [
                row for i in ids for row in (
                    {"id": 2 * i - 1, "customer_id": i, "kind": "phone", "value": phone_of(i), "raw": phone_of(i),
                     "valid": True, "created_at": now},
                    {"id": 2 * i, "customer_id": i, "kind": "email", "value": f"customer{i}@example.com",
                     "raw": f"customer{i}@example.com", "valid": True, "created_at": now})])
            rows = []
            for i in ids:
                for t in (2 * i - 1, 2 * i):
                    sla = rng.random()
                    rows.append({"id": t, "customer_id": i, "subject": "Support", "topic": "support",
                                 "status": rng.choice(STATUSES), "priority": "normal", "assignee": "", "tags": [],
                                 "callback_requested": False, "created_at": now - 90 * DAY,
                                 "updated_at": now - rng.random() * 90 * DAY, "version": 1, "queue": QUEUES[t % 3],
                                 "channel": rng.choice(("voice", "sms", "chat", "email", "voicemail")),
                                 "sla_state": "breached" if sla < 0.03 else "at_risk" if sla < 0.08 else ""})
            await conn.execute(insert(Ticket), rows)
    made = 0.0
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(workers, initializer=terms.initialize) as pool:
        chunks = [(s, min(interactions, s + BATCH)) for s in range(0, interactions, BATCH)]
        pending = [loop.run_in_executor(pool, _chunk, s, e, tickets, customers, now, sqlite) for s, e in chunks]
        for done in pending:
            waited = time.perf_counter()
            rows, docs = await done
            made += time.perf_counter() - waited
            async with core.store.engine.begin() as conn:
                await conn.execute(insert(Interaction), rows)
                await conn.execute(insert(SearchDoc), docs)
    async with core.store.engine.begin() as conn:
        if not sqlite:
            for table in ("customers", "identities", "tickets", "interactions"):
                await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                        f"(SELECT max(id) FROM {table}))"))
        await conn.execute(text("ANALYZE"))
        if sqlite:  # as a long-running store is after its automatic merges
            await conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))
    return time.perf_counter() - t0, made


def queries(kind: str, rng: random.Random, customers: int, names: list[str]) -> tuple[str, dict[str, Any]]:
    """One search of `kind`: (its text, its other arguments)."""
    everything: dict[str, Any] = {"visible_queues": None, "agent": None}
    i = rng.randint(1, customers)
    if kind == "number":
        return f"#{rng.randint(1, customers * 2)}", everything
    if kind == "phone":
        digits = phone_of(i)[2:]
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}", everything
    if kind == "email":
        return f"CUSTOMER{i}@EXAMPLE.COM", everything
    if kind == "name":
        name = rng.choice(names)
        return (name.split()[-1] if " " in name else name[1:]), everything
    if kind == "word+filters":
        return rng.choice(WORDS["english word"]), {"visible_queues": {"support", "sales"}, "agent": "agent1",
                                                    "status": "open", "queue": "support"}
    if kind == "no match":
        return f"xyzzy{rng.randint(0, 10**6)}", everything
    return rng.choice(WORDS[kind]), everything


async def measure(core: TicketCore, customers: int, searches: int) -> dict[str, tuple[list[float], float]]:
    """Per kind: (the searches' times in ms, their mean number of results)."""
    async with core.store.session() as s:
        names = list((await s.execute(text("SELECT name FROM customers ORDER BY id LIMIT 2000"))).scalars())
    rng = random.Random(3)
    kinds = ("number", "phone", "email", "name", "english word", "chinese word", "word+filters", "no match",
             "common word")
    for kind in kinds:  # warm the caches as a running store's are
        for _ in range(5):
            q, kw = queries(kind, rng, customers, names)
            await core.search.tickets(q, **kw)
    out = {}
    for kind in kinds:
        times, found = [], 0
        for _ in range(searches):
            q, kw = queries(kind, rng, customers, names)
            t0 = time.perf_counter()
            hits = await core.search.tickets(q, **kw)
            times.append((time.perf_counter() - t0) * 1000)
            found += len(hits)
        out[kind] = (times, found / searches)
    return out


def segmenting_cost() -> str:
    """What segmenting one message costs (terms.doc_terms): a Chinese and an English SMS, an email."""
    rng = random.Random(5)
    samples = {"SMS zh": [_text(rng, "sms", True) for _ in range(200)],
               "SMS en": [_text(rng, "sms", False) for _ in range(200)],
               "email zh": [_text(rng, "email", True) for _ in range(200)],
               "email en": [_text(rng, "email", False) for _ in range(200)]}
    out = []
    for name, texts in samples.items():
        t0 = time.perf_counter()
        for subject, body in texts:
            terms.doc_terms(subject, body)
        per = (time.perf_counter() - t0) / len(texts) * 1e6
        out.append(f"{name} {per:.0f} µs ({sum(len(b) for _, b in texts) // len(texts)} chars)")
    return ", ".join(out)


def jieba_load() -> float:
    """Seconds jieba takes to load its dictionary in a fresh process (what a controller's start pays)."""
    code = "import time, jieba, logging; jieba.setLogLevel(logging.WARNING); t = time.perf_counter(); " \
           "jieba.initialize(); print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


async def run(url: str, name: str, args: argparse.Namespace, filled: bool = False) -> None:
    """Fill the store at `url` (unless `filled`: a store this bench filled before) and measure."""
    terms.initialize()
    print(f"{name}: jieba's dictionary loads in {jieba_load():.2f} s; segmenting a message (terms.doc_terms): "
          f"{segmenting_cost()}", flush=True)
    await asyncio.to_thread(db.upgrade, url)
    core = TicketCore.build(url)
    await core.open()
    try:
        if not filled:
            seconds, making = await fill(core, args.customers, args.interactions, args.workers)
            print(f"{name}: filled {args.customers:,} customers, {args.customers * 2:,} tickets, "
                  f"{args.interactions:,} interactions ({args.interactions // 2:,} texts indexed) in {seconds:.0f} s "
                  f"(waiting {making:.0f} s of it on the texts being made and segmented)", flush=True)
        figures = await measure(core, args.customers, args.searches)
    finally:
        await core.close()
    print(f"\n{name}: {args.searches} searches of each kind, through TicketCore.search.tickets "
          f"(budget: p95 ≤ {BUDGET_MS:.0f} ms)")
    print(f"  {'kind':<14}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'results':>9}   p95 / budget")
    for kind, (times, found) in figures.items():
        p95 = percentile(times, 95)
        verdict = "ok" if p95 <= BUDGET_MS else "OVER"
        print(f"  {kind:<14}{percentile(times, 50):>9.1f}{p95:>9.1f}{max(times):>9.1f}{found:>9.1f}   "
              f"{p95 / BUDGET_MS:>5.2f}  {verdict}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--searches", type=int, default=100, help="searches of each kind")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes making the texts")
    parser.add_argument("--url", help="a store of your own (sqlite+aiosqlite:///FILE or postgresql+asyncpg://...): "
                        "filled if it holds no customer, else measured as it is (filled by an earlier run, same sizes)")
    args = parser.parse_args()
    if args.url:
        await asyncio.to_thread(db.upgrade, args.url)
        core = TicketCore.build(args.url)
        async with core.store.session() as s:
            filled = (await s.execute(text("SELECT count(*) FROM customers"))).scalar_one() > 0
        await core.close()
        await run(args.url, "SQLite" if args.url.startswith("sqlite") else "PostgreSQL", args, filled=filled)
        return
    with tempfile.TemporaryDirectory(prefix="callcenter-bench-") as tmp:
        if args.store == "sqlite":
            await run(f"sqlite+aiosqlite:///{Path(tmp) / 'store.db'}", "SQLite", args)
            return
        from tests.support.pgcluster import PgCluster
        cluster = PgCluster(Path(tmp), int(os.environ.get("CALLCENTER_TEST_PORT_BASE", "15000")) + 632)
        url = cluster.start()
        try:
            await run(url, "PostgreSQL", args)
        finally:
            cluster.stop()


if __name__ == "__main__":
    asyncio.run(main())
