"""Chinese and Japanese text, written without spaces: each character is a token for dedup and metrics."""

from __future__ import annotations

import json

import numpy as np

from synthgen.dedup.evaluate import shingle_sets
from synthgen.dedup.normalize import tokenize as dedup_tokens
from synthgen.diversity.lexical import distinct_n, tokenize

PARAGRAPH = ("机器学习是人工智能的一个分支，它使计算机能够从数据中学习而无需明确编程。深度学习是机器学习的一个子领域，"
             "使用多层神经网络来处理复杂的模式识别任务。")
ONE_WORD_CHANGED = PARAGRAPH.replace("复杂", "困难")


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return len(np.intersect1d(a, b)) / len(np.union1d(a, b))


def test_each_cjk_character_is_a_token_and_latin_words_stay_whole():
    assert dedup_tokens("机器学习是AI的分支, cats dogs") == ["机", "器", "学", "习", "是", "ai", "的", "分", "支",
                                                          "cats", "dogs"]
    assert tokenize("カタカナとひらがな。Tokyo") == ["カ", "タ", "カ", "ナ", "と", "ひ", "ら", "が", "な", "。", "tokyo"]
    assert tokenize("한국어 문장") == ["한국어", "문장"]  # Hangul separates words with spaces


def test_a_one_word_change_keeps_most_shingles_as_in_english():
    for n in (3, 5):
        [a, b] = shingle_sets([PARAGRAPH, ONE_WORD_CHANGED], n)
        assert jaccard(a, b) > 0.8  # a clause-per-token split gave 0.33 at n = 3


def test_near_duplicate_chinese_paragraphs_are_dropped(tmp_path):
    from synthgen.dedup.cli import run_dedup

    other = "今天天气很好，我们去公园散步，看到很多孩子在草地上玩耍，还有老人在树下下棋。"
    rows = [{"id": 1, "text": PARAGRAPH + other}, {"id": 2, "text": ONE_WORD_CHANGED + other},
            {"id": 3, "text": other + "晚上我们一起吃饭，聊了很久。"}]
    source = tmp_path / "zh.jsonl"
    source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    result = run_dedup(source, tmp_path / "out", workers=1)
    assert (result.rows, result.kept, dict(result.reasons)) == (3, 2, {"near_duplicate": 1})


def test_lexical_metrics_count_characters_not_clauses():
    texts = ["我喜欢猫。", "我喜欢狗。"]
    assert distinct_n(texts, 1) == 6 / 10  # 我 喜 欢 猫 。 我 喜 欢 狗 。: 6 types in 10 tokens (was 2 in 2)
