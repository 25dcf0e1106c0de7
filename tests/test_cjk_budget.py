"""Word budgets of Chinese and Japanese text: each CJK character is one unit, as in the lexical tokenizer.

Written without spaces, a CJK clause was one whitespace "word": a batch of 20 sentences had a budget of 20
(lexical metrics "not computed" below min_tokens), and truncation could not cut inside a clause, so the
two sides of a comparison held different amounts of text. Hangul separates words with spaces and keeps
whitespace words; English budgets are byte-for-byte what they were.
"""

from __future__ import annotations

from synthgen.cjk import space_cjk
from synthgen.diversity.gate import DiversityGate
from synthgen.diversity.metrics import MetricSettings, lexical_table
from synthgen.diversity.sampling import equal_tokens, truncate_to_words, word_count

ZH = [
    "我今天去图书馆借了三本书。",
    "他每天早上六点起床，然后去公园跑步。",
    "这家餐厅的红烧肉做得特别好吃，价格也不贵。",
    "昨天晚上下了一场大雨，街上的积水到现在还没退。",
    "妈妈在厨房里包饺子，爸爸在客厅看新闻。",
    "我们公司明年打算在上海开一个新的办事处。",
    "这部电影的结局让很多观众感到意外。",
    "孩子们放学以后喜欢在操场上踢足球。",
    "请把窗户关上，外面的风太大了。",
    "她花了两年时间学习日语，现在已经能看懂报纸了。",
    "火车晚点了四十分钟，我们只好在站台上等着。",
    "医生建议他少吃油腻的东西，多喝温水。",
    "这座古老的石桥已经有八百多年的历史了。",
    "周末我打算和朋友一起去爬山，顺便拍些照片。",
    "新买的洗衣机噪音很小，洗得也很干净。",
    "老师把考试的范围写在了黑板上。",
    "秋天到了，院子里的柿子树结满了果实。",
    "他把钥匙忘在办公室了，只能打电话叫妹妹来开门。",
    "这个城市的地铁线路越来越多，出行方便了不少。",
    "我奶奶年轻的时候在一家纺织厂当过工人。",
    "会议推迟到下周三下午两点举行。",
    "春节前后，超市里总是挤满了买年货的人。",
    "他用毛笔在红纸上写了一副对联。",
    "小猫躲在沙发底下，怎么叫都不肯出来。",
    "这条河的上游正在修建一座水电站。",
    "我忘了带伞，结果全身都被淋湿了。",
    "博物馆里展出了许多出土的青铜器。",
    "她每个月都会给远在乡下的父母寄钱。",
    "球赛进行到最后一分钟，主队终于踢进了一球。",
    "由于天气原因，今天所有的航班都取消了。",
    "邻居家的小狗每天晚上都叫个不停。",
    "我们在海边租了一间小房子，住了整整一个星期。",
    "这本小说讲的是一个普通家庭三代人的故事。",
    "他辞掉了银行的工作，回老家开了一家茶馆。",
    "山顶的气温比山脚低了将近十度。",
    "学校食堂新推出了几道四川菜，很受学生欢迎。",
    "地震发生后，救援队连夜赶到了灾区。",
    "她把旧衣服洗干净，捐给了社区的慈善站。",
    "这台电脑用了五年，运行速度已经很慢了。",
    "傍晚的时候，湖面上飞过一群白色的水鸟。",
]

JA = [
    "今日は朝から雨が降っていて、少し肌寒い。",
    "駅前の本屋で新しい料理の本を買いました。",
    "彼は毎晩寝る前に三十分ほど日記を書いている。",
    "この公園は春になると桜がとてもきれいです。",
    "週末は家族と一緒に温泉旅行に行く予定だ。",
    "電車が遅れたので、会議に十分ほど遅刻してしまった。",
    "祖母の作る味噌汁は、どこの店よりもおいしい。",
    "子どもたちは川で魚を捕まえて遊んでいた。",
    "新しいパソコンは前のものよりずっと軽い。",
    "来月から近所のスポーツジムに通うことにした。",
    "窓の外を見ると、雪がしんしんと降っていた。",
    "彼女はピアノを弾きながら静かに歌い始めた。",
    "図書館は月曜日が休みなので気をつけてください。",
    "昨日の地震で棚の上の花瓶が落ちて割れた。",
    "夏休みの宿題がまだ半分も終わっていない。",
    "このラーメン屋はいつも行列ができている。",
    "兄は大学で宇宙の研究をしているそうだ。",
    "財布を落としたが、親切な人が交番に届けてくれた。",
    "台風が近づいているため、明日の授業は休みになった。",
    "山の上から見た夕日は言葉にできないほど美しかった。",
    "猫が日当たりのいい縁側で気持ちよさそうに寝ている。",
    "引っ越しの荷物がまだ段ボールに入ったままだ。",
    "先生に褒められて、弟はとても嬉しそうだった。",
    "港町の市場では朝早くから新鮮な魚が売られている。",
    "健康のために、毎朝一駅分歩くようにしている。",
    "古いお寺の庭には立派な松の木が植えられていた。",
    "友達と映画を見た後、駅の近くで夕食を食べた。",
    "この町では毎年八月に大きな花火大会が開かれる。",
    "風邪をひいたので、今日は一日中家で休んでいた。",
    "彼は会社を辞めて、田舎で野菜を育てている。",
]

KO = ["오늘 아침에 공원에서 산책을 했다.", "서울의 지하철은 아주 편리하다.", "친구와 함께 저녁을 먹었다."]

ENGLISH = ["The cat sat  on the mat,\nand then it slept.", "  Rain fell all day; the river rose.\t",
           "Prices rose 3.5% in May.", "Café owners in Zürich — like many — open at 7 a.m."]

LEXICAL_ONLY = dict(mean_cosine_margin=None, vendi_ratio_min=None, coverage_ratio_min=None, previous_tolerance=None)


def units(text: str) -> int:
    """The budget unit spelled out: whitespace runs once every CJK character is spaced off."""
    return len(space_cjk(text).split())


def old_word_count(texts: list[str]) -> int:
    return sum(len(text.split()) for text in texts)


def old_truncate(texts: list[str], budget: int) -> list[str]:
    out, left = [], budget
    for text in texts:
        if left <= 0:
            break
        if words := text.split():
            out.append(" ".join(words[:left]))
            left -= min(left, len(words))
    return out


def test_the_budget_counts_each_cjk_character():
    assert word_count(["我今天去图书馆借了三本书。"]) == 13  # 12 characters and the full stop (was 1)
    assert word_count(["今日は朝から雨が降っていて、少し肌寒い。"]) == 20
    assert word_count(ZH) == sum(units(t) for t in ZH) > 600
    assert word_count(JA) == sum(units(t) for t in JA) > 500


def test_truncation_reaches_the_budget_inside_a_clause():
    budget = units(ZH[0]) + units(ZH[1]) + 5
    cut = truncate_to_words(ZH, budget)
    assert cut == [ZH[0], ZH[1], "这家餐厅的"]  # no spaces put between characters; cut mid-clause
    assert word_count(cut) == budget
    cut = truncate_to_words(JA, units(JA[0]) + 7)
    assert cut == [JA[0], "駅前の本屋で新"] and word_count(cut) == units(JA[0]) + 7


def test_equal_tokens_gives_both_sides_the_same_number_of_characters():
    mine, real = equal_tokens(ZH[:15], JA, seed=3)
    assert sum(units(t) for t in mine) == sum(units(t) for t in real) == min(word_count(ZH[:15]), word_count(JA))
    assert all(" " not in t for t in mine + real)
    assert all(any(original.startswith(t) for original in ZH + JA) for t in mine + real)


def test_distinct_2_and_compression_of_a_cjk_batch_are_computed():
    rows = {row.metric: row for row in lexical_table(ZH[:20], ZH[20:], MetricSettings(tail=False))}
    for name in ("distinct_2", "compression_ratio", "vocabulary_size"):
        assert rows[name].value is not None and rows[name].reference is not None, rows[name].reason
    assert rows["distinct_2"].details["words"] == min(word_count(ZH[:20]), word_count(ZH[20:])) >= 200
    assert 0.8 < rows["distinct_2"].ratio < 1.2


def test_the_gate_fails_a_repeated_sentence_and_passes_a_real_split():
    gate = DiversityGate(**LEXICAL_ONLY)
    for batch, reference in ((ZH[:20], ZH[20:]), (JA[:15], JA[15:])):
        result = gate.evaluate(batch, reference)
        assert result.passed, result.summary()
        repeated = gate.evaluate([batch[0]] * len(batch), reference)
        status = {d["metric"]: d["status"] for d in repeated.decisions}
        assert not repeated.passed and status == {"distinct_2": "fail", "compression_ratio": "fail"}


def test_mixed_english_and_cjk_text():
    text = "今天 we went to 北京大学 参观，then had   lunch。"
    assert word_count([text]) == 14  # 今 天 we went to 北 京 大 学 参 观 ，then had lunch。
    assert truncate_to_words([text], 7) == ["今天 we went to 北京"]
    assert truncate_to_words([text], 13) == ["今天 we went to 北京大学 参观，then had"]
    assert truncate_to_words(["我们用Python写了一个web服务。"], 4) == ["我们用Python"]


def test_korean_keeps_whitespace_words_next_to_japanese_characters():
    assert word_count(KO) == old_word_count(KO) and truncate_to_words(KO, 6) == old_truncate(KO, 6)
    text = "서울에서 東京まで 비행기로 갔다"
    assert word_count([text]) == 7  # 서울에서 東 京 ま で 비행기로 갔다
    assert truncate_to_words([text], 4) == ["서울에서 東京ま"]
    assert truncate_to_words([text], 6) == ["서울에서 東京まで 비행기로"]


def test_english_budgets_and_messages_are_unchanged_and_cjk_messages_say_the_unit():
    for budget in range(0, old_word_count(ENGLISH) + 2):
        assert truncate_to_words(ENGLISH, budget) == old_truncate(ENGLISH, budget)
    assert word_count(ENGLISH) == old_word_count(ENGLISH) == 34
    [row] = lexical_table(["a few words here"], ["and some real ones"], MetricSettings(), only={"distinct_2"})
    assert row.reason == "only 4 words to compare (batch 4, reference 4); lexical metrics need at least 200"
    [row] = lexical_table(["我喜欢猫。"], ["我喜欢狗。"], MetricSettings(), only={"distinct_2"})
    assert row.reason == ("only 5 words to compare (batch 5, reference 5); lexical metrics need at least 200"
                          " (a CJK character counts as one word)")


def test_the_length_verifier_counts_a_cjk_character_as_a_word():
    """``[[verify]] type = "length", unit = "words"`` on Chinese or Japanese text: a sentence was one word."""
    from synthgen.records import Candidate, GenerationRequest, Seed
    from synthgen.verify.rules import LengthVerifier

    request = GenerationRequest(index=0, prompt="", seed=Seed(0, {}), sampling_seed=0)
    check = LengthVerifier(unit="words", min=5, max=80).check
    for sentence in ZH[:5] + JA[:5]:
        verdict = check(Candidate(request, 0, sentence, None))
        assert verdict.keep and verdict.score == len(space_cjk(sentence).split())
    assert not check(Candidate(request, 0, ZH[0] * 10, None)).keep  # too long, in characters
    english = "the quick brown fox jumps over the lazy dog"
    assert check(Candidate(request, 0, english, None)).score == 9.0
    tokens = LengthVerifier(unit="tokens", min=5).check(Candidate(request, 0, ZH[0], None))
    assert tokens.keep  # no backend count: words, as above


def test_the_measured_share_s_long_row_note_counts_cjk_characters():
    """A Chinese row 40 times as long as the real ones was one "word" like them, and went unnamed."""
    from synthgen.mix.measured import long_rows_note

    note = long_rows_note(ZH, ["".join(ZH) * 2] + ZH[:3])
    assert note is not None and "1 synthetic row is over 10x as long" in note
    assert long_rows_note(ZH, ZH[:10]) is None
