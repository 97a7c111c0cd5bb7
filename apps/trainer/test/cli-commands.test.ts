import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '@lab/core';
import { describe, expect, it, vi } from 'vitest';
import { evaluateOptions } from '../src/cli/evaluate.js';
import { exportOptions } from '../src/cli/export.js';
import { sampleOptions } from '../src/cli/sample.js';
import { trainOptions } from '../src/cli/train.js';
import { main, USAGE } from '../src/cli.js';
import { resumedRunInfo } from '../src/run/resume.js';
import type { RunInfo } from '../src/run/run-dir.js';

// The usage text as it was when all 38 flags lived in one option bag in cli.ts (plus evaluate's and sample's --sampler
// and --step-size, evaluate's --kid-subset, train's noise-level flags and --step-size, export's --step-size; --sampler
// then grew the energy samplers, and its usage names S with a note).
const USAGE_BEFORE_SPLIT = `genlab-train <command> [options]

Commands:
  train     --model diffusion|energy|classifier --out runs/<name> [--preset P] [--steps N] [--batch B]
            [--micro-batch M] [--lr X] [--warmup N] [--lr-decay none|cosine|linear] [--lr-decay-start N]
            [--min-lr X] [--grad-clip X (0 = off)] [--weight-decay W] [--ema DECAY] [--seed S]
            [--data-dir DIR] [--classes 0,1,…] [--limit N] [--checkpoint-every K] [--sample-every K]
            [--samples N] [--sample-steps N] [--langevin-steps N] [--objective cd|dsm] [--sigma-max S]
            [--sigma-min S] [--noise-levels L] [--step-size E] [--schedule linear|cosine] [--timesteps T]
            [--conditional] [--label-dropout P] [--keep N] [--workers N] [--resume]
            [--init-from <run or exported model>] [--report-every N] [--cutout N (classifier)]
  evaluate  --run runs/<name> [--n N] [--classifier <classifier run or export>] [--real-n N] [--kid-subset N]
            [--test-n N] [--batch B] [--sample-steps N] [--sampler S] [--guidance G] [--guidance-rescale R]
            [--step N] [--step-size E] [--seed S] [--data-dir DIR] [--flip-average (a classifier run)]
  evaluate  --classifier <classifier run or export> [--test-n N] [--batch B] [--data-dir DIR]
            (test-set accuracy only)
  export    --run runs/<name> --to <models dir>/<id> [--step N] [--force] [--data-dir DIR (energy)]
            [--sampler S] [--sample-steps N] [--step-size E (score-matching energy)]
            [--guidance G] [--guidance-rescale R] (class-conditional diffusion): the served defaults
            [--flip-average] (classifier): serve and evaluate the mean over each image and its mirror image
  sample    --run runs/<name> --out grid.png [--n N] [--steps N] [--sampler S] [--guidance G]
            [--step-size E] [--step N] [--seed S]
  report    --run runs/<name> [--samples N] [--svg-dir D]   (writes runs/<name>/report.html: curves, evaluations, samples; --svg-dir: each chart as D/<chart>.svg too)

Data: --data-dir or GENLAB_CIFAR10_DIR (a cifar-10-batches-bin folder); otherwise the official
archive is downloaded once into GENLAB_CACHE (default ~/.cache/genlab).
Backend (every command): --backend torch|tensorflow-gpu|tensorflow|webgpu|wasm|cpu, or GENLAB_BACKEND;
otherwise the fastest available. torch uses every core (GENLAB_TORCH_THREADS sets how many).
--sampler S (evaluate, sample): ddim or dpm-solver++ for diffusion runs; langevin (annealed Langevin)
or ancestral (ancestral steps between noise levels, with the run's Langevin corrector steps) for
score-matching energy runs; default: the run's own.
--step-size E (evaluate, sample; score-matching energy runs only) sets annealed Langevin's step
size ε, the step at the smallest noise level σ_L (level i steps ε·σᵢ²/σ_L²); default: the run's own.
Ctrl-C during training writes a checkpoint and exits (a second Ctrl-C quits at once).
--lr-decay anneals the learning rate to --min-lr (default 0) at the run's last step, starting at
--lr-decay-start (default: the end of warm-up; on --resume, the step the run is at). It may be
added, changed or removed (none) on --resume; a decayed run extended with --steps is stretched.
--workers N (default 0) computes each batch's gradients in N worker threads plus the main thread,
split into N+1 shards: the same step, on more cores (allowed on --resume; not stored in the run);
for wasm and cpu only (unnecessary on torch, which is multi-threaded).
--objective dsm (energy) trains a noise-conditional energy by denoising score matching, sampled by
annealed Langevin dynamics (no Langevin chains while training); cd (default) is contrastive divergence.
--sigma-max, --sigma-min and --noise-levels set a dsm run's geometric noise levels (default 1, 0.01,
10: σ_max near the largest distance between images mixes better; see docs/results.md), and
--step-size its sampler's default ε (default 5e-5), which the exported model serves with.
A dsm run's --preset is an energy net (default resnet-small) or a UNet energy, unet-tiny or unet-small:
E(x, σ) = ⟨x, UNet(x/√(1 + σ²), t(σ))⟩/2σ, ~3× a diffusion step per image but a far better denoiser.
--model energy --objective dsm --init-from <diffusion model> builds that energy on the diffusion
model's UNet (at its null class), a good start: only the noise levels and --step-size are the run's.
A UNet energy's defaults are the bundled one's: σ 80 → 0.01 over 100 levels, the ancestral sampler.
--init-from starts a new run from trained weights (a run's latest EMA weights, or an exported
model folder such as apps/api/models/ddpm-cifar10) with their architecture; Adam, the step count
and the learning-rate schedule start afresh (fine-tuning, or training on across machines).
--report-every N rewrites the run's report.html every N steps while training (evaluate rewrites it too).
--cutout N (classifier runs) erases an N×N square (to mid-grey) at a random place of every training
image, a regulariser on top of the flips and shifts; set when a run starts, stored in it.
--weight-decay W (default 0) is decoupled weight decay (AdamW): before each Adam step every kernel
shrinks by the factor 1 − lr·W, lr the step's learning rate (biases and batch-norm parameters do
not decay). Set when a run starts (or with --init-from), stored in it.`;

const logger = { debug: () => undefined, info: () => undefined, warn: vi.fn(), error: () => undefined };

describe('CLI flags, one module per command', () => {
  it('composes the same usage text from the commands’ own parts', () => {
    expect(USAGE).toBe(USAGE_BEFORE_SPLIT);
  });

  it('prints usage on --help (exit 0) and without a command (exit 2)', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['--help'])).toBe(0);
      expect(await main(['train', '-h'])).toBe(0);
      expect(await main([])).toBe(2);
      expect(write).toHaveBeenCalledWith(`${USAGE}\n`);
    } finally {
      write.mockRestore();
    }
  });

  it('parses train flags into typed options', () => {
    const options = trainOptions(['--out', '/tmp/run', '--model', 'diffusion', '--steps', '5', '--lr', '0.001', '--classes', '1, 2']);
    expect(options).toMatchObject({ out: '/tmp/run', model: 'diffusion', steps: 5, lr: 0.001, classes: [1, 2], resume: false });
    expect(options.cutout).toBeUndefined();
    expect(trainOptions(['--out', 'x', '--model', 'classifier', '--cutout', '16']).cutout).toBe(16);
    expect(() => trainOptions(['--out', 'x', '--cutout', '2.5'])).toThrow("--cutout must be an integer ≥ 0, got '2.5'");
    expect(options.weightDecay).toBeUndefined();
    expect(trainOptions(['--out', 'x', '--weight-decay', '0.05']).weightDecay).toBe(0.05);
    expect(() => trainOptions(['--out', 'x', '--weight-decay', 'lots'])).toThrow("--weight-decay must be a number ≥ 0, got 'lots'");
    expect(trainOptions(['--out', 'x', '--resume', '--schedule', 'cosine', '--conditional'])).toMatchObject({
      resume: true,
      schedule: 'cosine',
      conditional: true,
    });
    const noise = trainOptions(['--out', 'x', '--objective', 'dsm', '--sigma-max', '50', '--noise-levels', '100', '--step-size', '3e-5']);
    expect(noise).toMatchObject({ objective: 'dsm', noise: { max: 50, levels: 100 }, stepSize: 3e-5 });
    expect(noise.noise).not.toHaveProperty('min');
    expect(trainOptions(['--out', 'x', '--objective', 'dsm'])).not.toHaveProperty('noise');
  });

  it('names a flag that belongs to another command, and a bad --schedule', async () => {
    await expect(main(['sample', '--run', 'r', '--out', 'g.png', '--resume'], logger)).rejects.toThrow(
      new ValidationError('sample does not take --resume (a flag of train)'),
    );
    await expect(main(['export', '--run', 'r', '--to', 't', '--kid-subset', '2'], logger)).rejects.toThrow(
      'export does not take --kid-subset (a flag of evaluate)',
    );
    expect(() => trainOptions(['--out', 'x', '--schedule', 'quadratic'])).toThrow("--schedule must be linear or cosine, got 'quadratic'");
    expect(() => trainOptions(['--out', 'x', '--noise-levels', '2.5'])).toThrow("--noise-levels must be an integer ≥ 1, got '2.5'");
    expect(() => trainOptions(['--out', 'x', '--step-size', '0'])).toThrow("--step-size must be a number > 0, got '0'");
  });

  it('finds the command after flags without taking a flag’s value for it', async () => {
    await expect(main(['--out', 'train', 'frobnicate'], logger)).rejects.toThrow("unknown command 'frobnicate'");
  });

  it('evaluates accuracy only with --classifier and no --run; export keeps --step only when given', () => {
    expect(evaluateOptions(['--classifier', '/c', '--test-n', '10'])).toMatchObject({
      accuracyOnly: true,
      options: { classifier: '/c', testCount: 10 },
    });
    expect(evaluateOptions(['--run', '/r', '--n', '4']).accuracyOnly).toBe(false);
    expect(() => evaluateOptions(['--classifier', '/c', '--step-size', '1e-5', '--guidance', '2'])).toThrow(
      new ValidationError("--step-size, --guidance apply to a run's evaluation (--run); --classifier alone measures test accuracy"),
    );
    expect(() => evaluateOptions(['--classifier', '/c', '--n', '100'])).toThrow(/^--n applies to a run's evaluation/);
    // A bundle carries its own flip-average flag; a classifier run is told.
    expect(() => evaluateOptions(['--classifier', '/c', '--flip-average'])).toThrow(/^--flip-average applies to a run's evaluation/);
    expect(evaluateOptions(['--run', '/r', '--flip-average']).options).toMatchObject({ flipAverage: true });
    expect(evaluateOptions(['--run', '/r']).options).not.toHaveProperty('flipAverage');
    expect(exportOptions(['--run', '/r', '--to', '/t'])).not.toHaveProperty('step');
    expect(exportOptions(['--run', '/r', '--to', '/t', '--step', '0']).step).toBe(0);
  });
});

describe('--sampler (evaluate, sample)', () => {
  it('parses the diffusion and energy samplers, is absent unless given, and names a bad value', () => {
    const evaluate = (...argv: string[]) => evaluateOptions(['--run', '/r', ...argv]).options;
    expect(evaluate('--sampler', 'dpm-solver++', '--sample-steps', '20')).toMatchObject({ sampler: 'dpm-solver++', sampleSteps: 20 });
    expect(evaluate('--sampler', 'ddim')).toMatchObject({ sampler: 'ddim' });
    expect(evaluate()).not.toHaveProperty('sampler');
    expect(sampleOptions(['--run', '/r', '--out', '/g.png', '--sampler', 'dpm-solver++'])).toMatchObject({ sampler: 'dpm-solver++' });
    expect(sampleOptions(['--run', '/r', '--out', '/g.png'])).not.toHaveProperty('sampler');
    expect(evaluate('--sampler', 'ancestral')).toMatchObject({ sampler: 'ancestral' });
    expect(sampleOptions(['--run', '/r', '--out', '/g.png', '--sampler', 'langevin'])).toMatchObject({ sampler: 'langevin' });
    expect(() => evaluate('--sampler', 'ddpm')).toThrow(
      new ValidationError("--sampler must be one of ddim, dpm-solver++, langevin, ancestral, got 'ddpm'"),
    );
    expect(() => sampleOptions(['--run', '/r', '--out', '/g.png', '--sampler', 'euler'])).toThrow(/--sampler must be one of ddim/);
  });

  it('is a flag of export too, not of train', async () => {
    expect(exportOptions(['--run', '/r', '--to', '/t', '--sampler', 'ancestral'])).toMatchObject({ sampler: 'ancestral' });
    expect(exportOptions(['--run', '/r', '--to', '/t', '--sample-steps', '49'])).toMatchObject({ sampleSteps: 49 });
    expect(exportOptions(['--run', '/r', '--to', '/t', '--flip-average'])).toMatchObject({ flipAverage: true });
    expect(exportOptions(['--run', '/r', '--to', '/t'])).not.toHaveProperty('flipAverage');
    expect(() => exportOptions(['--run', '/r', '--to', '/t', '--sample-steps', '0'])).toThrow(/--sample-steps must be an integer ≥ 1/);
    await expect(main(['train', '--out', 'o', '--sampler', 'ddim'], logger)).rejects.toThrow(/train does not take --sampler/);
  });
});

describe('--step-size (train, evaluate, sample, export)', () => {
  it('parses a number > 0, is absent unless given, and names a bad value', () => {
    const evaluate = (...argv: string[]) => evaluateOptions(['--run', '/r', ...argv]).options;
    const sample = (...argv: string[]) => sampleOptions(['--run', '/r', '--out', '/g.png', ...argv]);
    expect(evaluate('--step-size', '2e-5')).toMatchObject({ stepSize: 2e-5 });
    expect(sample('--step-size', '0.0001')).toMatchObject({ stepSize: 1e-4 });
    expect(evaluate()).not.toHaveProperty('stepSize');
    expect(sample()).not.toHaveProperty('stepSize');
    // (=: parseArgs takes a value starting with a dash only in that form.)
    for (const bad of ['0', '-1e-5', 'abc', '', 'Infinity']) {
      expect(() => evaluate(`--step-size=${bad}`)).toThrow(new ValidationError(`--step-size must be a number > 0, got '${bad}'`));
      expect(() => sample(`--step-size=${bad}`)).toThrow(new ValidationError(`--step-size must be a number > 0, got '${bad}'`));
    }
  });

  it('is a run setting of train and export (a dsm run’s default), refused for other runs', async () => {
    const out = join(tmpdir(), `genlab-refused-${process.pid}`);
    await expect(main(['train', '--out', out, '--model', 'diffusion', '--step-size', '1e-5'], logger)).rejects.toThrow(
      '--sigma-max, --sigma-min, --noise-levels and --step-size apply to score-matching energy runs (--model energy --objective dsm)',
    );
    expect(existsSync(out)).toBe(false); // a refused run leaves no folder behind
    expect(exportOptions(['--run', '/r', '--to', '/t', '--step-size', '1e-5'])).toMatchObject({ stepSize: 1e-5 });
    expect(exportOptions(['--run', '/r', '--to', '/t'])).not.toHaveProperty('stepSize');
  });
});

describe('resume policy (run/resume.ts)', () => {
  const existing: RunInfo = {
    format: 1,
    kind: 'classifier',
    created: '2026-01-01T00:00:00.000Z',
    task: {},
    optimization: { batchSize: 8, lr: 1e-3, warmupSteps: 0, gradClipNorm: 1, emaDecay: 0.999, emaWarmup: true, beta1: 0.9 },
    seed: 1,
    steps: 100,
    data: {},
    checkpointEvery: 10,
    sampleEvery: 0,
    sampleCount: 16,
    keepCheckpoints: 2,
  };

  it('refuses a --steps target behind the run, and keeps the run when nothing changes', () => {
    expect(() => resumedRunInfo(existing, { out: 'x', steps: 12 }, 30, logger)).toThrow(
      '--steps 12 is behind the run, which is at step 30: give a larger target, or leave --steps out to continue to 100',
    );
    expect(resumedRunInfo(existing, { out: 'x' }, 30, logger)).toBe(existing);
    expect(resumedRunInfo(existing, { out: 'x', steps: 200 }, 30, logger).steps).toBe(200);
  });

  it('refuses flags that would change the task or the arithmetic of a step', () => {
    expect(() => resumedRunInfo(existing, { out: 'x', conditional: true }, 30, logger)).toThrow(
      'classifier run is unconditional: --conditional cannot change on --resume',
    );
    expect(() => resumedRunInfo(existing, { out: 'x', noise: { levels: 20 } }, 30, logger)).toThrow(/cannot change on --resume/);
    expect(() => resumedRunInfo(existing, { out: 'x', stepSize: 1e-5 }, 30, logger)).toThrow(/cannot change on --resume/);
    expect(() => resumedRunInfo(existing, { out: 'x', cutout: 8 }, 30, logger)).toThrow(
      'the run trains with --cutout 0; it cannot change on --resume (got 8)',
    );
    expect(resumedRunInfo({ ...existing, task: { cutout: 8 } }, { out: 'x', cutout: 8 }, 30, logger).task).toEqual({ cutout: 8 });
    expect(() => resumedRunInfo(existing, { out: 'x', weightDecay: 0.05 }, 30, logger)).toThrow(
      'the run trains with --weight-decay 0; it cannot change on --resume (got 0.05)',
    );
    const decayed = { ...existing, optimization: { ...existing.optimization, weightDecay: 0.05 } };
    expect(resumedRunInfo(decayed, { out: 'x', weightDecay: 0.05 }, 30, logger)).toBe(decayed);
    expect(() => resumedRunInfo(existing, { out: 'x', batch: 16 }, 30, logger)).toThrow(
      'the run trains with --batch 8; it cannot change on --resume (got 16)',
    );
  });

  it('warns when a new decay changes the learning rate at the resume step', () => {
    logger.warn.mockClear();
    resumedRunInfo(existing, { out: 'x', lrDecay: 'linear', lrDecayStart: 0 }, 50, logger);
    expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining('the learning rate at step 50 changes'), {
      lrDecay: expect.any(Object),
    });
  });
});
