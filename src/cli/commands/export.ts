// `heed export`: a model (and adapter) as GGUF for llama.cpp, an Ollama folder, a merged Hugging Face
// folder or a PEFT folder; or data and recipe for TRL / Axolotl.
import { Option, type Command } from 'commander';
import { exportModel, MODEL_TARGETS, TENSOR_TYPES, type ModelTarget } from '../../export/model.js';
import { exportTrainer } from '../../export/trainers.js';
import type { GgufTensorType } from '../../models/gguf.js';
import { guard } from '../util.js';

interface ExportFlags {
  model: string; adapter?: string; to: ModelTarget | 'trl' | 'axolotl'; out: string; type?: GgufTensorType;
  adapterOnly?: boolean; merge?: boolean; name?: string; recipe?: string; preferences?: string;
}

const EXAMPLES = `
Examples:
  heed export --model runs/base/model --to gguf --out base.gguf
  heed export --model runs/base/model --adapter runs/lora/best --to gguf --type q8_0 --out merged-q8.gguf
  heed export --model runs/base/model --adapter runs/lora/best --to gguf --adapter-only --out lora.gguf
  heed export --model runs/base/model --adapter runs/lora/best --to ollama --out ollama/   (then: cd ollama && ollama create mine -f Modelfile)
  heed export --model runs/base/model --adapter runs/lora/best --to hf --out merged/
  heed export --model runs/base/model --to trl --recipe sft-lora --preferences prefs.jsonl --out trl/`;

export function register(program: Command): void {
  program
    .command('export')
    .description('write a model for llama.cpp (GGUF), Ollama, Hugging Face or PEFT, or data and recipe for TRL / Axolotl')
    .requiredOption('--model <dir>', 'Hugging Face model folder')
    .option('--adapter <dir>', 'PEFT LoRA adapter folder: merged into gguf/hf, kept as an adapter file for ollama, written by peft')
    .addOption(new Option('--to <target>', 'what to write').choices([...MODEL_TARGETS, 'trl', 'axolotl']).makeOptionMandatory())
    .requiredOption('--out <path>', 'output file (gguf) or a folder that does not exist yet (the others)')
    .addOption(new Option('--type <type>', 'tensor type: GGUF f32, f16, bf16 or q8_0; hf f32, f16 or bf16 (default f32)').choices([...TENSOR_TYPES]))
    .option('--adapter-only', 'gguf: write only the LoRA adapter (llama.cpp --lora, Ollama ADAPTER)')
    .option('--merge', 'ollama: fold the adapter into the weights instead of an ADAPTER file')
    .option('--name <text>', 'GGUF general.name (default: the model folder)')
    .option('--recipe <name>', 'trl/axolotl: the SFT recipe to restate (a name in recipes/ or a JSON file; default sft-lora)')
    .option('--preferences <file>', 'trl: preference JSONL ({prompt, chosen, rejected}) for the DPO and reward trainers')
    .addHelpText('after', EXAMPLES)
    .action((o: ExportFlags) => guard(() => {
      if (o.to === 'trl' || o.to === 'axolotl') {
        for (const [flag, v] of [['--adapter', o.adapter], ['--type', o.type], ['--adapter-only', o.adapterOnly], ['--merge', o.merge], ['--name', o.name]] as const) {
          if (v !== undefined) throw new Error(`${flag} does not apply to --to ${o.to} (it writes data and a training recipe, not weights)`);
        }
        const notes = exportTrainer({ model: o.model, to: o.to, out: o.out, recipe: o.recipe ?? 'sft-lora', preferences: o.preferences });
        for (const n of notes) process.stderr.write(`heed: note: ${n}\n`);
        console.log(`wrote ${o.out}`);
        return;
      }
      if (o.preferences !== undefined) throw new Error('--preferences applies to --to trl');
      if (o.recipe !== undefined) throw new Error('--recipe applies to --to trl and --to axolotl');
      const written = exportModel({
        model: o.model, adapter: o.adapter, to: o.to, out: o.out, type: o.type ?? 'f32',
        adapterOnly: o.adapterOnly ?? false, merge: o.merge ?? false, name: o.name,
      });
      console.log(`wrote ${written.join(', ')}`);
    }));
}
