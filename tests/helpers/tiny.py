"""Tiny random models with a locally trained tokenizer, for fast offline tests (well under a second)."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "Write a short poem about the sea. Do not use any commas.",
    "The response must contain at least 3 bullet points and end with 'Is there anything else I can help with?'",
    "Identify which tokens in the response are relevant to the criteria.",
    "Criteria: Answer in all lowercase letters. Response: hello world, this is a test.",
    "JSON format, markdown headings, tables with rows and columns, keywords like banana and apple.",
    "The quick brown fox jumps over the lazy dog 0123456789 !?.,;:'\"()[]{}<>*#-_/\\ \n\t",
    "émoji 😀 中文 測試 CRLF\r\n double  spaces",
]

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_tokenizer(kind: str = "bpe", vocab_size: int = 400, corpus: list[str] | None = None):
    """A fast tokenizer trained on ``corpus`` (default :data:`CORPUS`): byte-level BPE (decoder style) or
    WordPiece (BERT style)."""
    corpus = CORPUS if corpus is None else corpus
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if kind == "bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        specials = ["<pad>", "</s>", "<s>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>"]
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        )
        tok.train_from_iterator(corpus, trainer)
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", bos_token="<s>", unk_token="<unk>"
        )
        fast.chat_template = CHAT_TEMPLATE
        return fast
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def tiny_causal_lm(path: str | Path, seed: int = 0) -> Path:
    """Save a 2-layer random Llama with the BPE tokenizer (and a chat template) to ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tok = tiny_tokenizer("bpe")
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
        tie_word_embeddings=True,
    )
    path = Path(path)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def tiny_token_classifier(path: str | Path, kind: str = "bert", seed: int = 0, corpus: list[str] | None = None) -> Path:
    """Save a 2-layer random one-logit token classifier: ``bert`` (encoder) or ``llama`` (decoder)."""
    import torch
    from transformers import AutoModelForTokenClassification, BertConfig, LlamaConfig

    torch.manual_seed(seed)
    if kind == "bert":
        tok = tiny_tokenizer("wordpiece", corpus=corpus)
        cfg = BertConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=512,
            num_labels=1,
            pad_token_id=tok.pad_token_id,
        )
    else:
        tok = tiny_tokenizer("bpe", corpus=corpus)
        cfg = LlamaConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=1024,
            num_labels=1,
            pad_token_id=tok.pad_token_id,
        )
    path = Path(path)
    AutoModelForTokenClassification.from_config(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path
