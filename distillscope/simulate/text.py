"""Prompt text for the randomised simulator: a topic space, languages, phrasings, the writers of each style.

Everything is drawn from a ``numpy.random.Generator`` so a scenario is
reproducible from its seed. Phrasings are many and drawn per account (a
scenario's own "house style"), so no detector can key on one sentence. The
topic space is ``DOMAINS`` x their subtopics; random-word queries draw from the
word-piece vocabulary shipped with the packaged MiniLM model (falling back to
the words of this module when it is absent).

This module writes text only; it must not know about accounts, timing or labels,
and it must not import the detector.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

DOMAINS: dict[str, list[str]] = {
    "biology": [
        "photosynthesis",
        "cell division",
        "the immune system",
        "protein folding",
        "natural selection",
        "the Krebs cycle",
        "gene expression",
        "ecosystems",
        "neurons",
        "enzymes",
        "viruses",
        "DNA repair",
    ],
    "physics": [
        "relativity",
        "entropy",
        "quantum tunnelling",
        "electromagnetism",
        "black holes",
        "optics",
        "superconductivity",
        "fluid dynamics",
        "nuclear fission",
        "semiconductors",
        "sound waves",
    ],
    "chemistry": [
        "chemical bonds",
        "acids and bases",
        "catalysis",
        "redox reactions",
        "polymers",
        "the periodic table",
        "chemical equilibrium",
        "electrochemistry",
        "organic synthesis",
    ],
    "mathematics": [
        "prime numbers",
        "linear algebra",
        "calculus limits",
        "probability",
        "graph theory",
        "group theory",
        "differential equations",
        "combinatorics",
        "topology",
        "number theory",
        "Fourier series",
        "eigenvalues",
    ],
    "computing": [
        "recursion",
        "hash tables",
        "operating systems",
        "compilers",
        "public key cryptography",
        "distributed consensus",
        "garbage collection",
        "TCP congestion control",
        "database indexes",
        "neural networks",
        "gradient descent",
        "sorting algorithms",
    ],
    "economics": [
        "inflation",
        "supply and demand",
        "monetary policy",
        "game theory",
        "comparative advantage",
        "market failures",
        "compound interest",
        "exchange rates",
        "unemployment",
        "taxation",
    ],
    "history": [
        "the French revolution",
        "the Roman republic",
        "the Cold War",
        "the Renaissance",
        "the industrial revolution",
        "the Ming dynasty",
        "the Ottoman empire",
        "decolonisation",
        "the printing press",
        "the Silk Road",
    ],
    "law": [
        "contract law",
        "tort liability",
        "intellectual property",
        "due process",
        "data protection law",
        "employment law",
        "international treaties",
        "criminal intent",
        "tenancy rights",
    ],
    "medicine": [
        "hypertension",
        "antibiotic resistance",
        "vaccines",
        "diabetes",
        "sleep apnea",
        "anaesthesia",
        "clinical trials",
        "migraine",
        "cholesterol",
        "physiotherapy",
    ],
    "earth": [
        "plate tectonics",
        "the water cycle",
        "climate feedback loops",
        "volcanoes",
        "ocean currents",
        "glaciers",
        "soil erosion",
        "hurricanes",
        "the carbon cycle",
    ],
    "philosophy": [
        "utilitarianism",
        "free will",
        "the trolley problem",
        "epistemology",
        "existentialism",
        "the social contract",
        "virtue ethics",
        "personal identity",
    ],
    "literature": [
        "Shakespeare's sonnets",
        "magical realism",
        "the unreliable narrator",
        "Greek tragedy",
        "the Gothic novel",
        "haiku form",
        "stream of consciousness",
        "satire",
    ],
}
ALL_TOPICS = [(d, t) for d, ts in DOMAINS.items() for t in ts]

LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "ru", "zh", "ja")

#: Explain/solve phrasings per language ({t} = topic). Extractors and slow-and-low accounts draw from these.
EXPLAIN: dict[str, list[str]] = {
    "en": [
        "Explain {t} in detail.",
        "Can you explain how {t} works?",
        "Give a thorough overview of {t}.",
        "What should a student know about {t}?",
        "Describe the key ideas behind {t}.",
        "I'm trying to understand {t}, can you help?",
        "Teach me {t} from first principles.",
        "Write a detailed explanation of {t} with examples.",
        "how does {t} actually work",
        "Summarise the main concepts of {t} and why they matter.",
    ],
    "es": [
        "Explica {t} en detalle.",
        "¿Cómo funciona {t}?",
        "Dame una visión completa de {t}.",
        "Describe las ideas clave de {t}.",
    ],
    "fr": [
        "Explique {t} en détail.",
        "Comment fonctionne {t} ?",
        "Donne un aperçu complet de {t}.",
        "Décris les idées principales de {t}.",
    ],
    "de": [
        "Erkläre {t} ausführlich.",
        "Wie funktioniert {t}?",
        "Gib einen gründlichen Überblick über {t}.",
        "Beschreibe die Kernideen von {t}.",
    ],
    "pt": ["Explique {t} em detalhe.", "Como funciona {t}?", "Dê uma visão completa de {t}."],
    "it": ["Spiega {t} in dettaglio.", "Come funziona {t}?", "Dai una panoramica completa di {t}."],
    "ru": ["Объясни {t} подробно.", "Как работает {t}?", "Дай полный обзор темы {t}."],
    "zh": ["请详细解释{t}。", "{t}是如何运作的？", "请全面介绍{t}。"],
    "ja": [
        "{t}について詳しく説明してください。",
        "{t}はどのように機能しますか？",
        "{t}の概要を教えてください。",
    ],
}
SOLVE: dict[str, list[str]] = {
    "en": [
        "Solve this problem about {t}: {q}",
        "Here is a question on {t}. {q}",
        "{q} (topic: {t})",
        "Work out the following ({t}): {q}",
        "Homework on {t}: {q}",
    ],
    "es": ["Resuelve este problema de {t}: {q}", "Pregunta sobre {t}: {q}"],
    "fr": ["Résous ce problème sur {t} : {q}", "Question sur {t} : {q}"],
    "de": ["Löse diese Aufgabe zu {t}: {q}", "Frage zu {t}: {q}"],
    "pt": ["Resolva este problema sobre {t}: {q}"],
    "it": ["Risolvi questo problema su {t}: {q}"],
    "ru": ["Реши задачу по теме {t}: {q}"],
    "zh": ["请解答关于{t}的问题：{q}"],
    "ja": ["{t}に関する問題を解いてください：{q}"],
}
#: Ways to ask for written-out reasoning, per language.
COT_ASKS: dict[str, list[str]] = {
    "en": [
        "Think step by step.",
        "Show your full reasoning before the answer.",
        "Let's think step by step.",
        "Explain your reasoning at each step.",
        "Walk me through your thought process.",
        "Reason carefully and show all your work.",
        "Give a detailed chain of thought, then the answer.",
        "Before answering, think it through step by step.",
    ],
    "es": ["Piensa paso a paso.", "Muestra tu razonamiento paso a paso."],
    "fr": ["Réfléchis étape par étape.", "Montre ton raisonnement étape par étape."],
    "de": ["Denke Schritt für Schritt.", "Zeige deinen Lösungsweg Schritt für Schritt."],
    "pt": ["Pense passo a passo.", "Mostre seu raciocínio passo a passo."],
    "it": ["Ragiona passo dopo passo.", "Spiega il tuo ragionamento passo dopo passo."],
    "ru": ["Рассуждай шаг за шагом.", "Покажи ход решения пошагово."],
    "zh": ["请一步一步地思考。", "请写出完整的推理过程。"],
    "ja": ["ステップバイステップで考えてください。", "段階的に推論してください。"],
}
QUESTIONS = [
    "If a train leaves at {a}:00 and travels {b} km at {c} km/h, when does it arrive?",
    "A shop sells {a} items for {b} dollars; how much do {c} items cost?",
    "What is {a} percent of {b}, and how does it compare to {c}?",
    "Find x if {a}x + {b} = {c}.",
    "How many ways can {a} people sit in {b} chairs?",
    "A tank holds {b} litres and drains {a} litres a minute; when is it a third full?",
    "Estimate the order of magnitude of {a} times {b} divided by {c}.",
    "Why would a change of {a} percent in one factor change the outcome by {b} percent?",
]
#: Everyday requests of ordinary users (English; other languages draw from EXPLAIN/SOLVE).
CHAT = [
    "write an email to my {who} about {thing}",
    "give me ideas for {thing}",
    "how do I {task}?",
    "whats the difference between {x} and {y}",
    "pros and cons of {thing}?",
    "help me plan {thing}",
    "why is my {thing} not working",
    "can you make this sound more professional: {snippet}",
    "translate to {lang}: {snippet}",
    "explain {x} like I'm five",
    "recipe ideas with {food}",
    "fix the grammar: {snippet}",
    "is it normal that {snippet}",
    "suggest a name for {thing}",
    "write a short poem about {x}",
    "what should I consider before {task}?",
    "tldr of {x} please",
]
WHO = ["boss", "landlord", "team", "professor", "client", "neighbour", "bank", "doctor", "coach", "aunt"]
THINGS = [
    "a birthday party",
    "the quarterly report",
    "a trip to Lisbon",
    "my sourdough starter",
    "a job interview",
    "a wedding toast",
    "the dishwasher",
    "a garden",
    "a budget spreadsheet",
    "a 5k run",
    "the offsite",
    "a cover letter",
    "my thesis outline",
    "a podcast",
    "my bike",
    "a kids' party",
    "the wifi router",
]
TASKS = [
    "center a div",
    "fix a merge conflict",
    "make cold brew",
    "renew a passport",
    "train for a marathon",
    "write a SQL join",
    "set up a VPN",
    "remove a stripped screw",
    "deploy a Flask app",
    "negotiate rent",
    "learn Spanish",
    "start composting",
    "ask for a raise",
]
FOOD = ["chickpeas", "leftover rice", "spinach", "salmon", "lentils", "tofu", "eggs", "zucchini"]
SNIPPETS = [
    "we was going to the store but it were closed",
    "i think my cat hates me lol",
    "the meeting got moved again and nobody told me",
    "my code works but i dont know why",
    "our team missed the deadline because of the vendor",
    "cant sleep after coffee at 4pm",
]
CODE_TASKS = [
    "write a Python function that {verb} a {obj}",
    "why does this {lang2} code throw {err}?",
    "convert this loop to a list comprehension",
    "regex to match {obj}s",
    "unit test for a function that {verb} a {obj}",
    "how to {verb} a {obj} in {lang2}",
]
VERBS = ["parses", "reverses", "validates", "sorts", "deduplicates", "flattens", "merges", "serialises"]
OBJS = ["list", "date string", "JSON file", "linked list", "CSV row", "email address", "binary tree", "URL"]
LANGS2 = ["Python", "JavaScript", "Rust", "Go", "Java", "SQL", "bash", "TypeScript"]
ERRS = ["a KeyError", "a NullPointerException", "a segfault", "an off-by-one error", "a timeout"]
#: Task families a task-enumeration campaign walks through systematically.
TASK_FAMILIES = [
    "classify the sentiment of",
    "extract the named entities from",
    "summarise",
    "paraphrase",
    "translate into French",
    "answer a reading-comprehension question about",
    "write a title for",
    "list the key facts in",
    "detect the language of",
    "rewrite formally",
    "generate three questions about",
    "simplify for a child",
]


def typo(rng: np.random.Generator, text: str, rate: float) -> str:
    """Human noise: dropped or swapped letters, lower case, missing punctuation."""
    if rate <= 0:
        return text
    chars = list(text)
    for i in range(len(chars) - 1):
        if chars[i].isalpha() and rng.random() < rate:
            if rng.random() < 0.5:
                chars[i] = ""
            else:
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
    out = "".join(chars)
    if rng.random() < 0.4:
        out = out.lower()
    if rng.random() < 0.3:
        out = out.rstrip(".?!")
    return out


def pick(rng: np.random.Generator, items: list[str] | tuple[str, ...]) -> str:
    return items[int(rng.integers(len(items)))]


def question(rng: np.random.Generator) -> str:
    a, b, c = (int(x) for x in rng.integers(2, 400, 3))
    return pick(rng, QUESTIONS).format(a=a, b=b, c=c)


def chat_prompt(rng: np.random.Generator) -> str:
    x, y = (t for _, t in (ALL_TOPICS[i] for i in rng.choice(len(ALL_TOPICS), 2, replace=False)))
    return pick(rng, CHAT).format(
        who=pick(rng, WHO),
        thing=pick(rng, THINGS),
        task=pick(rng, TASKS),
        x=x,
        y=y,
        snippet=pick(rng, SNIPPETS),
        lang=pick(rng, ["French", "German", "Spanish", "Japanese"]),
        food=pick(rng, FOOD),
    )


def code_prompt(rng: np.random.Generator) -> str:
    return pick(rng, CODE_TASKS).format(
        verb=pick(rng, VERBS).rstrip("s"), obj=pick(rng, OBJS), lang2=pick(rng, LANGS2), err=pick(rng, ERRS)
    )


def explain_prompt(rng: np.random.Generator, topic: str, lang: str = "en") -> str:
    if rng.random() < 0.5:
        return pick(rng, EXPLAIN[lang]).format(t=topic)
    return pick(rng, SOLVE[lang]).format(t=topic, q=question(rng))


def cot_suffix(rng: np.random.Generator, lang: str = "en") -> str:
    return pick(rng, COT_ASKS[lang])


@lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """Whole words (>= 4 letters) of the packaged MiniLM word-piece vocabulary, or this module's words."""
    try:
        from distillscope.models import embedder_path

        lines = (embedder_path() / "vocab.txt").read_text(encoding="utf-8").split()
        words = tuple(w for w in lines if w.isalpha() and w.isascii() and len(w) >= 4)
        if len(words) > 2000:
            return words
    except Exception:  # noqa: BLE001 - any failure: fall back to our own words
        pass
    text = " ".join(t for _, t in ALL_TOPICS) + " " + " ".join(THINGS + TASKS + FOOD + SNIPPETS)
    return tuple(sorted({w.lower() for w in text.split() if w.isalpha() and len(w) >= 4}))


def random_words(rng: np.random.Generator, low: int = 4, high: int = 14) -> str:
    vocab = vocabulary()
    n = int(rng.integers(low, high))
    return " ".join(vocab[i] for i in rng.integers(0, len(vocab), n))


SELF_INSTRUCT_SEEDS = [
    "Write a {form} about {t}.",
    "Give three examples of {t} in everyday life.",
    "Create a quiz question on {t} with four options.",
    "Rewrite the following for a {aud}: a note on {t}.",
    "List the steps to {task}.",
    "Compose a dialogue between a {who} and a {aud} about {t}.",
    "Generate an analogy that explains {t}.",
    "Propose a research question on {t}.",
    "Write a {form} that contrasts {t} and {t2}.",
    "Classify these as related to {t} or not: {w}.",
]
FORMS = ["short story", "limerick", "product description", "news brief", "tweet thread", "haiku", "FAQ"]
AUDIENCES = ["child", "lawyer", "CEO", "grandparent", "engineer", "tourist", "student"]


def self_instruct_prompt(rng: np.random.Generator) -> str:
    (_, t), (_, t2) = (ALL_TOPICS[i] for i in rng.choice(len(ALL_TOPICS), 2, replace=False))
    return pick(rng, SELF_INSTRUCT_SEEDS).format(
        form=pick(rng, FORMS),
        t=t,
        t2=t2,
        aud=pick(rng, AUDIENCES),
        task=pick(rng, TASKS),
        who=pick(rng, WHO),
        w=", ".join(random_words(rng, 3, 6).split()),
    )


def task_family_prompt(rng: np.random.Generator, family: str, index: int) -> str:
    _, t = ALL_TOPICS[int(rng.integers(len(ALL_TOPICS)))]
    passage = f"{pick(rng, SNIPPETS)}; a remark on {t}; {random_words(rng, 3, 7)}"
    return f"Task {index}: {family} the following text.\nText: {passage}"


def rag_prompt(rng: np.random.Generator, app_topics: list[str]) -> str:
    t = pick(rng, app_topics)
    chunk = " ".join(
        f"{pick(rng, ['Section', 'Clause', 'Note', 'Item'])} {int(rng.integers(1, 99))} on {t}: "
        f"{random_words(rng, 8, 16)}."
        for _ in range(int(rng.integers(2, 5)))
    )
    q = pick(
        rng,
        [
            "What does the document say about",
            "Summarise the policy on",
            "Is there a rule about",
            "According to the context, how is",
        ],
    )
    return f"Use only the context to answer.\n\nContext:\n{chunk}\n\nQuestion: {q} {t}?"


def agent_prompt(rng: np.random.Generator, tool_names: list[str]) -> str:
    tool = pick(rng, tool_names)
    arg = random_words(rng, 1, 3)
    return (
        f'Observation from {tool}: {{"status": "ok", "items": {int(rng.integers(0, 40))}, '
        f'"query": "{arg}"}}\nDecide the next action. Reply with JSON {{"tool": ..., "args": ...}}.'
    )


BENCHMARK_STEMS = [
    "Question: {q}\nA) {a}\nB) {b}\nC) {c}\nD) {d}\nAnswer:",
    "Q: {q}\nA:",
    "Premise: {a}\nHypothesis: {b}\nDoes the premise entail the hypothesis? Answer yes or no.",
]


def benchmark_items(seed: int, count: int) -> list[str]:
    """A fixed public benchmark: the same items for every harness that runs it."""
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(count):
        (_, a), (_, b), (_, c), (_, d) = (
            ALL_TOPICS[i] for i in rng.choice(len(ALL_TOPICS), 4, replace=False)
        )
        items.append(pick(rng, BENCHMARK_STEMS).format(q=question(rng), a=a, b=b, c=c, d=d))
    return items
