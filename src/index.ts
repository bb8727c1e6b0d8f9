// heed's public API: what a program that imports 'heed' uses to run each stage of the pipeline
// itself: tensors and ops, models and their Hugging Face folders, tokenizers, data, training,
// alignment, AI feedback, evaluation, the feedback store and the server. Layer by layer, as
// DESIGN.md orders them; deeper modules stay reachable as 'heed/<layer>/<module>.js'.
import './kernels/native.js';

// core: tensors, autograd, ops
export { Tensor } from './core/tensor.js';
export type { DType } from './core/tensor.js';
export { backward, noGrad, isGradEnabled } from './core/autograd.js';
export * as ops from './core/ops.js';
export { Rng } from './core/rng.js';
export { nativeKernels, useBackend } from './core/kernels.js';

// nn: the optimizer and schedule
export { AdamW, clipGradNorm, cosineLR } from './nn/optim.js';

// models: the transformer, HF folders, adapters, generation, log-probs
export { Transformer, KVCache } from './models/transformer.js';
export type { ForwardOptions, LoraConfig } from './models/transformer.js';
export { PRESETS, configFromHF, configToHF } from './models/config.js';
export type { ModelConfig, PresetName } from './models/config.js';
export { loadModel, saveModel } from './models/load.js';
export type { LoadedModel } from './models/load.js';
export { loadAdapter, saveAdapter } from './models/peft.js';
export { Generator, generate } from './models/generate.js';
export type { GenerateOptions, GenerateResult, GeneratorOptions, Sequence, TokenEvent } from './models/generate.js';
export { SamplingSchema, checkSampling } from './models/sampling.js';
export type { Sampling } from './models/sampling.js';
export { scoredBatch, sequenceLogprobs, tokenLogprobs } from './models/logprobs.js';
export type { ScoredBatch, PromptResponse } from './models/logprobs.js';
export { readSafetensors, writeSafetensors } from './models/safetensors.js';

// tokenizer and data
export * from './tokenizer/index.js';
export * from './data/index.js';

// train: recipes, the loop, pretraining and SFT
export {
  loadRecipe, PretrainSchema, SftSchema, RewardSchema, DpoSchema, PpoSchema, GrpoSchema, STAGE_SCHEMAS, RECIPES_DIR,
} from './train/recipes.js';
export type { PretrainRecipe, SftRecipe, RewardRecipe, DpoRecipe, PpoRecipe, GrpoRecipe, RunOptions } from './train/recipes.js';
export { trainLoop, lmLoss, evalLmLoss, optimizerStep, EpochOrder } from './train/loop.js';
export type { Batch, BatchSource, LossReport, LoopOptions, LoopResult } from './train/loop.js';
export { RunDir } from './train/checkpoint.js';
export { pretrain } from './train/pretrain.js';
export type { PretrainResult } from './train/pretrain.js';
export { sft } from './train/sft.js';
export type { SftResult } from './train/sft.js';

// align: rollouts, judges, the reward model, DPO, PPO and GRPO
export { rollouts, promptIds } from './align/rollout.js';
export type { Rollout, RolloutOptions, TaskPrompt } from './align/rollout.js';
export { builtinPrompts, readTaskPrompts } from './align/prompts.js';
export {
  loadConstitution, DEFAULT_CONSTITUTION, PrincipleDraw, verifiableJudge, rulesJudge, chainJudges, rankResponses, judgeByName, RULE_SCORES,
} from './align/judges.js';
export type { Judge, Verdict, Candidate, Constitution, Principle, JudgedRanking } from './align/judges.js';
export { rankingLoss, impliedPairs, pairwiseAccuracy, scoreRankings, toRewardModel } from './align/reward.js';
export type { RankedPrompt, EncodedRanking } from './align/reward.js';
export { trainRewardModel } from './align/reward-train.js';
export type { RewardResult } from './align/reward-train.js';
export { trainDpo } from './align/dpo.js';
export type { DpoResult } from './align/dpo.js';
export { trainRl } from './align/rl.js';
export type { RlResult, RlEval } from './align/rl.js';
export * as algos from './align/algos.js';

// synth: the client for OpenAI-compatible endpoints and the model judge
export { OpenAIClient, EndpointError } from './synth/client.js';
export type { ChatRequest, ChatResult, ClientOptions } from './synth/client.js';
export { modelJudge } from './synth/judge.js';

// eval
export { evaluateTasks, evalSets, scoreModel } from './eval/tasks.js';
export type { TaskReport, ModelScores } from './eval/tasks.js';
export { copyProbe, capitalsProbe, pretrainProbes } from './eval/probes.js';

// feedback: the ranking store
export * from './feedback/index.js';
export { readRankings, storeRollouts, judgeStore } from './feedback/align.js';

// serve: the OpenAI-compatible server
export { listen } from './serve/app.js';
export { ModelRegistry } from './serve/models.js';
