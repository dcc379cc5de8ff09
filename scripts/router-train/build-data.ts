// Rebuilds the router's labelled data from mirrored public repositories (see README.md next to this file):
//   ROUTER_MIRROR=/work/.mirror npx tsx scripts/router-train/build-data.ts
// Writes the training set (scripts/router-train/data/train.jsonl), our own held-out set and the public held-out
// set built from the reserved benchmarks' test splits (scripts/router-eval/*.json). Every label comes from the
// source (dataset, category, difficulty level) by the rubric in README.md, never from running the router.
// Sampling is seeded, so a rebuild from the same mirrors gives byte-identical files.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { rng, shuffled, type Tier } from "./lib";
import { NearDupIndex } from "./near-dup";

const MIRROR = process.env.ROUTER_MIRROR ?? "/work/.mirror";
const raw = (repo: string, path: string) =>
  execFileSync("git", ["-C", `${MIRROR}/${repo.replace("/", "+")}/repo`, "show", `HEAD:${path}`], { maxBuffer: 64 << 20 });
const text = (repo: string, path: string) => raw(repo, path).toString("utf8");
const jsonl = (repo: string, path: string): any[] =>
  text(repo, path)
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
const clip = (s: string, n = 3000) => (s.length > n ? s.slice(0, n) : s).trim();

export interface Item {
  /** Tier by the rubric. */
  l: Tier;
  /** Human turns of the conversation; the last one is the one being routed. */
  t: string[];
  /** Source dataset (and category), for per-source reports. */
  s: string;
}
const one = (l: Tier, t: string, s: string): Item => ({ l, t: [clip(t)], s });
const take = <T>(xs: T[], n: number, seed: number) => shuffled(xs, rng(seed)).slice(0, n);
/**
 * An instruction and its input, joined the way people paste them: on one line, on the next line or after a
 * blank line (seeded). One fixed "instruction\ninput" layout per source would teach the model the layout of
 * a dataset instead of the difficulty of its tasks.
 */
const joinRandom = rng(77);
const join = (instruction: string, input: string) =>
  input ? `${instruction.trim()}${[" ", "\n", "\n\n"][Math.floor(joinRandom() * 3)]}${input.trim()}` : instruction;

// ---------------- training set (never a reserved test split) ----------------
const train: Item[] = [];
const clinc = JSON.parse(text("clinc/oos-eval", "data/data_full.json"));
// CLINC150 train split: assistant commands and one-line questions, incl. greetings / thanks / yes / no.
for (const [q, intent] of take<[string, string]>([...clinc.train, ...clinc.oos_train], 2500, 1)) train.push(one("simple", q, `clinc150-train:${intent}`));
// Self-instruct seed tasks: everyday instructions written by the authors (standard).
for (const t of jsonl("yizhongw/self-instruct", "data/seed_tasks.jsonl")) {
  const input = t.instances?.[0]?.input ?? "";
  train.push(one("standard", join(t.instruction, input), "self-instruct-seed"));
}
// T0 training mixture (via self-instruct): classification, extraction, QA over a passage, summarisation (standard).
const templates = execFileSync("git", [
  "-C",
  `${MIRROR}/yizhongw+self-instruct/repo`,
  "ls-tree",
  "--name-only",
  "HEAD",
  "data/finetuning/t0_train_50k/data_per_template/",
])
  .toString()
  .split("\n")
  .filter(Boolean);
/** T0 templates that are nothing but a one-fact question: simple, below, so never sampled as standard. */
const LOOKUP_TEMPLATES = ["trec_fine_grained_open", "sciq_Direct_Question_Closed_Book_", "kilt_tasks_hotpotqa_straighforward_qa"];
const t0Path = (name: string) => `data/finetuning/t0_train_50k/data_per_template/${name}.jsonl`;
for (const [i, path] of take(
  templates.filter((p) => !LOOKUP_TEMPLATES.some((name) => p === t0Path(name))),
  120,
  2,
).entries()) {
  for (const r of take(jsonl("yizhongw/self-instruct", path), 8, 100 + i))
    train.push(one("standard", r.prompt, `t0-train:${path.split("/").pop()!.replace(".jsonl", "")}`));
}
// One-fact questions (TREC question classification, SciQ closed-book, HotpotQA's plain questions, via the T0
// mixture; the question alone, without the template's wrapper): simple, like the NQ-style lookups people ask.
for (const name of LOOKUP_TEMPLATES)
  for (const r of jsonl("yizhongw/self-instruct", t0Path(name))) {
    const q = String(r.prompt)
      .replace(/^What is this question asking for\?\s*/, "")
      .replace(/^Q:\s*/, "")
      .replace(/\s*A:\s*$/, "")
      .replace(/\s+\?$/, "?")
      .trim();
    train.push(one("simple", q, `t0-lookup:${name}`));
  }
// One-step arithmetic word problems (MAWPS, ASDiv): standard.
for (const r of take(jsonl("MobileLLM/BudgetThinker", "evaluation/data/mawps/test.jsonl"), 250, 3)) train.push(one("standard", r.input, "mawps"));
for (const r of take(jsonl("MobileLLM/BudgetThinker", "evaluation/data/asdiv/test.jsonl"), 250, 4))
  train.push(one("standard", `${r.body} ${r.question}`, "asdiv"));
// MBPP (prompt, validation and train splits; its test split 11–510 is left alone): writing code → complex.
for (const r of jsonl("patdfb/TPC-EES", "mbpp/mbpp.jsonl").filter((r) => r.task_id < 11 || r.task_id > 510)) {
  train.push(one("complex", `${r.text}\nYour code should pass these tests:\n${r.test_list.join("\n")}`, "mbpp-train"));
}
// The same MBPP tasks as a function to complete from its signature and docstring (writing code → complex).
for (const r of jsonl("patdfb/TPC-EES", "mbpp/mbpp.jsonl").filter((r) => r.task_id < 11 || r.task_id > 510)) {
  const sig = /def [^\n]+:/.exec(r.code)?.[0];
  if (sig) train.push(one("complex", `${sig}\n    """${r.text}\n    >>> ${r.test_list[0].replace(/^assert /, "")}\n    """\n`, "mbpp-train:complete"));
}
// GPTeacher (MIT): code generation instructions → complex; role-play instructions → standard.
const gpteacher = (path: string) => JSON.parse(text("teknium1/GPTeacher", path)) as { instruction: string; input: string }[];
for (const r of take(gpteacher("Codegen/codegen-instruct.json"), 1500, 15)) train.push(one("complex", join(r.instruction, r.input), "gpteacher-codegen"));
for (const r of take(gpteacher("Roleplay/roleplay-simple-deduped-roleplay-instruct.json"), 800, 16))
  train.push(one("standard", join(r.instruction, r.input), "gpteacher-roleplay"));
// IFEval (Apache-2.0; Google Research's instruction-following prompts, copy in Podtech-AI/IFEval): essays,
// stories, poems, letters, summaries and advice with format constraints, written the way people ask → standard.
for (const r of jsonl("Podtech-AI/IFEval", "data/input_data.jsonl")) train.push(one("standard", r.prompt, "ifeval"));
// ClassEval (MIT): implement a whole class from its skeleton → complex.
for (const r of JSON.parse(text("FudanSELab/ClassEval", "data/ClassEval_data.json")) as { skeleton: string }[])
  train.push(one("complex", `Implement this class:\n\n${r.skeleton}`, "classeval"));
// Multi-step and competition maths: GSM8K TRAIN split, OlympiadBench, Gaokao 2023 (en), AQuA-RAT → reasoning.
for (const r of take(jsonl("openai/grade-school-math", "grade_school_math/data/train.jsonl"), 900, 5)) train.push(one("reasoning", r.question, "gsm8k-train"));
for (const r of jsonl("MobileLLM/BudgetThinker", "evaluation/data/olympiadbench/test.jsonl")) train.push(one("reasoning", r.question, "olympiadbench"));
for (const r of jsonl("MobileLLM/BudgetThinker", "evaluation/data/gaokao2023en/test.jsonl")) train.push(one("reasoning", r.question, "gaokao2023en"));
for (const r of jsonl("MobileLLM/BudgetThinker", "evaluation/data/aqua/test.jsonl"))
  train.push(one("reasoning", `${r.question}\nOptions: ${r.options.join(" ")}`, "aqua"));

// FOLIO train split (CC BY-SA 4.0): first-order logic over natural-language premises → reasoning.
for (const r of jsonl("Yale-LILY/FOLIO", "data/v0.0/folio-train.jsonl")) {
  train.push(
    one(
      "reasoning",
      `${r.premises.join("\n")}\n\nBased on the premises above, is the following conclusion true, false, or uncertain?\n${r.conclusion}`,
      "folio-train",
    ),
  );
}

// AR-LSAT (MIT): LSAT analytical reasoning (constraint puzzles: orderings, seatings, groupings) and logical
// reasoning (flaws, assumptions, inferences) questions, with their lettered answer choices → reasoning.
const lsat = (path: string) => JSON.parse(text("zhongwanjun/AR-LSAT", path)) as { context: string; question: string; answers: string[] }[];
const lettered = (r: { context: string; question: string; answers: string[] }) =>
  `${r.context}\n${r.question}\n${r.answers.map((a, i) => `(${"ABCDE"[i]}) ${a}`).join("\n")}`;
for (const r of take(lsat("complete_lsat_data/train_ar.json"), 400, 18)) train.push(one("reasoning", lettered(r), "ar-lsat-train:ar"));
for (const r of take(lsat("complete_lsat_data/val_lr.json"), 400, 19)) train.push(one("reasoning", lettered(r), "ar-lsat-val:lr"));

// ---------------- our own held-out set: sources the training set does not use ----------------
const own: Item[] = [];
// The team's hand-written prompts (labelled when they were written).
for (const file of ["prompts.json", "holdout.json"]) {
  for (const [l, t] of JSON.parse(readFileSync(new URL(`../router-eval/${file}`, import.meta.url), "utf8")) as [Tier, string][])
    own.push(one(l, t, `team:${file}`));
}
// (Self-Instruct's user-oriented set is not used: its 252 prompts are part of AlpacaEval, a reserved test set.)
// WizardLM's Evol-Instruct test set (CC BY-NC 4.0, evaluation only): its skill and difficulty (1–10) give the tier,
// by the rubric: writing or debugging code is complex (from difficulty 4); maths and reasoning are reasoning (from
// 4); explanations, writing and advice on any other subject, Computer Science included, are standard unless rated
// 9–10 (the long multi-part analytical work the rubric calls complex).
const CODE_SKILLS = new Set(["Code Generation", "Code Debug"]);
for (const r of jsonl("nlpxucan/WizardLM", "WizardLM/data/WizardLM_testset.jsonl")) {
  const l: Tier = CODE_SKILLS.has(r.Skill)
    ? r.Difficulty >= 4
      ? "complex"
      : "standard"
    : r.Skill === "Math" || r.Skill === "Reasoning"
      ? r.Difficulty >= 4
        ? "reasoning"
        : "standard"
      : r.Difficulty >= 9
        ? "complex"
        : "standard";
  own.push(one(l, r.Instruction, `wizardlm-test:${r.Skill}:d${r.Difficulty}`));
}
// CLINC150's validation split (not its reserved test split; the training set uses its train split): assistant
// commands and one-line questions, so that the thresholds pay for sending simple turns up.
for (const [q, intent] of take<[string, string]>(clinc.val, 80, 20)) own.push(one("simple", q, `clinc150-val:${intent}`));
for (const r of jsonl("MobileLLM/BudgetThinker", "evaluation/data/amc23/test.jsonl")) own.push(one("reasoning", r.question ?? r.problem, "amc23"));
for (const r of take(jsonl("MobileLLM/BudgetThinker", "evaluation/data/minerva_math/test.jsonl"), 80, 6)) own.push(one("reasoning", r.problem, "minerva-math"));
for (const r of take(jsonl("MobileLLM/BudgetThinker", "evaluation/data/svamp/test.jsonl"), 80, 7))
  own.push(one("standard", `${r.Body}. ${r.Question}`, "svamp"));

// ---------------- public held-out set: the reserved benchmarks' test splits (evaluation only) ----------------
const pub: Item[] = [];
const MT: Record<string, Tier> = {
  writing: "standard",
  roleplay: "standard",
  extraction: "standard",
  humanities: "standard",
  stem: "standard",
  coding: "complex",
  math: "reasoning",
  reasoning: "reasoning",
};
for (const q of jsonl("lm-sys/FastChat", "fastchat/llm_judge/data/mt_bench/question.jsonl")) {
  // Both turns carry the conversation's label: the second turn continues the same task.
  pub.push({ l: MT[q.category]!, t: [clip(q.turns[0])], s: `mt-bench:${q.category}:turn1` });
  pub.push({ l: MT[q.category]!, t: q.turns.map((x: string) => clip(x)), s: `mt-bench:${q.category}:turn2` });
}
const VIC: Record<string, Tier> = { coding: "complex", math: "reasoning", fermi: "reasoning" };
for (const q of jsonl("lm-sys/FastChat", "fastchat/llm_judge/data/vicuna_bench/question.jsonl"))
  pub.push(one(VIC[q.category] ?? "standard", q.turns[0], `vicuna-bench:${q.category}`));
const alpaca = JSON.parse(text("tatsu-lab/alpaca_eval", "results/Ein-70B-v0.1/alpaca_eval_gpt4_turbo_fn/annotations.json")) as { instruction: string }[];
for (const r of take([...new Map(alpaca.map((r) => [r.instruction, r])).values()], 150, 8)) pub.push(one("standard", r.instruction, "alpacaeval"));
for (const r of take(jsonl("lmarena/arena-hard-auto", "data/arena-hard-v0.1/question.jsonl"), 100, 9))
  pub.push(one("complex", r.prompt ?? r.turns?.[0]?.content, "arena-hard"));
for (const r of take(jsonl("openai/grade-school-math", "grade_school_math/data/test.jsonl"), 100, 10)) pub.push(one("reasoning", r.question, "gsm8k-test"));
for (const r of take(jsonl("MobileLLM/BudgetThinker", "evaluation/data/math500/test.jsonl"), 100, 11)) {
  pub.push(
    one(
      Number(r.level) <= 2 ? "standard" : "reasoning",
      r.problem.replace(/^Return your final response within \\boxed\{\}\.\s*/, ""),
      `math-500:level${r.level}`,
    ),
  );
}
for (const r of jsonl("MobileLLM/BudgetThinker", "evaluation/data/aime24/test.jsonl")) pub.push(one("reasoning", r.problem, "aime-2024"));
const he = gunzipSync(raw("openai/human-eval", "data/HumanEval.jsonl.gz"))
  .toString("utf8")
  .split("\n")
  .filter(Boolean)
  .map((l) => JSON.parse(l));
for (const r of take(he, 80, 12)) pub.push(one("complex", `Complete this Python function:\n\n${r.prompt}`, "humaneval"));
const bbh = execFileSync("git", ["-C", `${MIRROR}/suzgunmirac+BIG-Bench-Hard/repo`, "ls-tree", "--name-only", "HEAD", "bbh/"])
  .toString()
  .split("\n")
  .filter((p) => p.endsWith(".json"));
for (const [i, path] of bbh.entries())
  for (const r of take(JSON.parse(text("suzgunmirac/BIG-Bench-Hard", path)).examples, 4, 200 + i))
    pub.push(one("reasoning", r.input, `bbh:${path.slice(4, -5)}`));
for (const [q, intent] of take<[string, string]>(clinc.test, 100, 13)) pub.push(one("simple", q, `clinc150-test:${intent}`));
for (const r of take(jsonl("google-research-datasets/natural-questions", "nq_open/NQ-open.dev.jsonl"), 100, 14))
  pub.push(one("simple", `${r.question}?`, "nq-open"));

// ---------------- leakage: no reserved test prompt, nor a near-copy of one, outside the public held-out set ----------------
// Checked against the reserved benchmarks' WHOLE test splits (not only the prompts sampled above): training
// data and our own held-out set (whose development half sets the thresholds) drop any prompt that copies one.
const reserved: string[] = [
  ...jsonl("lm-sys/FastChat", "fastchat/llm_judge/data/mt_bench/question.jsonl").flatMap((q) => q.turns as string[]),
  ...jsonl("lm-sys/FastChat", "fastchat/llm_judge/data/vicuna_bench/question.jsonl").flatMap((q) => q.turns as string[]),
  ...alpaca.map((r) => r.instruction),
  ...["data/arena-hard-v0.1/question.jsonl", "data/arena-hard-v2.0/question.jsonl"].flatMap((p) =>
    jsonl("lmarena/arena-hard-auto", p).map((r) => String(r.prompt ?? r.turns?.[0]?.content ?? "")),
  ),
  ...jsonl("openai/grade-school-math", "grade_school_math/data/test.jsonl").map((r) => r.question as string),
  ...jsonl("MobileLLM/BudgetThinker", "evaluation/data/math500/test.jsonl").map((r) => r.problem as string),
  ...jsonl("MobileLLM/BudgetThinker", "evaluation/data/aime24/test.jsonl").map((r) => r.problem as string),
  ...he.map((r) => r.prompt as string),
  ...bbh.flatMap((path) => (JSON.parse(text("suzgunmirac/BIG-Bench-Hard", path)).examples as { input: string }[]).map((r) => r.input)),
  ...[...clinc.test, ...clinc.oos_test].map(([q]: [string]) => q),
  ...jsonl("google-research-datasets/natural-questions", "nq_open/NQ-open.dev.jsonl").map((r) => r.question as string),
];
const reservedIndex = new NearDupIndex(reserved);
const clean = (items: Item[], against: NearDupIndex[], what: string) => {
  const shown = new Map<string, number>();
  const kept = items.filter((it) =>
    against.every((ix) =>
      it.t.every((t) => {
        const m = ix.match(t);
        const src = it.s.split(":")[0]!;
        if (m >= 0 && process.env.ROUTER_SHOW_DUPS && (shown.set(src, (shown.get(src) ?? 0) + 1).get(src) ?? 0) <= 3)
          console.log(`  [${it.s}] ${t.slice(0, 140).replace(/\s+/g, " ")}\n    copies ${ix.texts[m]!.slice(0, 140).replace(/\s+/g, " ")}`);
        return m < 0;
      }),
    ),
  );
  console.log(`${what}: dropped ${items.length - kept.length} of ${items.length} prompts that copy a reserved test prompt`);
  return kept;
};
const trainClean = clean(train, [reservedIndex], "training set");
// Our own held-out set must also be new to the model: nothing in it copies a training prompt.
const ownClean = clean(own, [reservedIndex, new NearDupIndex(trainClean.map((i) => i.t[i.t.length - 1]!))], "own held-out set (reserved or training)");
train.splice(0, train.length, ...trainClean);
own.splice(0, own.length, ...ownClean);

const out = (file: string, items: Item[]) => writeFileSync(new URL(file, import.meta.url), items.map((i) => JSON.stringify(i)).join("\n") + "\n");
out("./data/train.jsonl", train);
out("../router-eval/own-holdout.jsonl", own);
out("../router-eval/public-holdout.jsonl", pub);
const count = (xs: Item[]) =>
  Object.entries(xs.reduce<Record<string, number>>((a, x) => ((a[x.l] = (a[x.l] ?? 0) + 1), a), {}))
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
console.log(`train ${train.length} (${count(train)})\nown held-out ${own.length} (${count(own)})\npublic held-out ${pub.length} (${count(pub)})`);
