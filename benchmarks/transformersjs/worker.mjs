// JS side of benchmarks/bench_classifier_vs_transformersjs.py: the lab's image
// classification with transformers.js (@huggingface/transformers) on onnxruntime-node.
//
//   node worker.mjs --model-dir DIR --threads N --once FILE   load, classify FILE, print the top-1
//   node worker.mjs --model-dir DIR --threads N --serve       JSON lines on stdin/stdout
//
// Serve protocol (one JSON object per line; the Python worker speaks the same):
//   -> {"op": "load", "files": {"name": "path", ...}}   read each file once, keep the bytes
//   -> {"op": "round", "names": [...]}                  per photo: whole classification from the
//      bytes in memory to the top-5 list (whole_ms), then the model run alone on the photo's
//      preprocessed input (run_ms: the onnxruntime session; model_ms: transformers.js' model call)
//   -> {"op": "input", "name": "..."}                   the preprocessed input (float32, base64)
//   -> {"op": "quit"}
// Every answer is one line {"ok": true, ...} or {"ok": false, "error": "..."}.
// Times are measured here (performance.now), without the pipe.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';

import { env, pipeline, RawImage } from '@huggingface/transformers';

const require = createRequire(import.meta.url);

function parseArgs(argv) {
    const args = { threads: 1 };
    for (let i = 0; i < argv.length; i++) {
        const key = argv[i];
        if (key === '--model-dir') args.modelDir = argv[++i];
        else if (key === '--threads') args.threads = Number(argv[++i]);
        else if (key === '--once') args.once = argv[++i];
        else if (key === '--serve') args.serve = true;
        else throw new Error(`unknown argument ${key}`);
    }
    if (!args.modelDir || !(args.once || args.serve) || !(args.threads >= 1)) {
        throw new Error('usage: node worker.mjs --model-dir DIR --threads N (--once FILE | --serve)');
    }
    return args;
}

function versions() {
    // package.json of an installed package, found from its entry point (not all export it)
    const version = (name) => {
        try {
            let dir = path.dirname(require.resolve(name));
            while (dir !== path.dirname(dir)) {
                const file = path.join(dir, 'package.json');
                if (existsSync(file)) {
                    const pkg = JSON.parse(readFileSync(file, 'utf8'));
                    if (pkg.name === name) return pkg.version;
                }
                dir = path.dirname(dir);
            }
        } catch {
            // not installed
        }
        return null;
    };
    return {
        node: process.versions.node,
        transformers_js: env.version,
        onnxruntime_node: version('onnxruntime-node'),
        sharp: version('sharp'),
    };
}

// The model directory is a Hugging Face style one, read from disk only.
async function loadClassifier(modelDir, threads) {
    const dir = path.resolve(modelDir);
    env.localModelPath = path.dirname(dir) + path.sep;
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    const name = path.basename(dir);
    // transformers.js 4.x maps config.json's model_type to a model class; the test model's
    // "efficientnet-lite" is not one of them, so it is loaded as its closest known type
    // (an ImageNet classifier taking pixel_values and returning logits, like the lab's).
    const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
    if (config.model_type === 'efficientnet-lite') config.model_type = 'efficientnet';
    return pipeline('image-classification', name, {
        dtype: 'fp32',
        device: 'cpu',
        config,
        session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
    });
}

// What a JS user does with an image they downloaded: bytes -> Blob -> RawImage -> pipeline.
async function classifyBytes(classifier, bytes) {
    const image = await RawImage.fromBlob(new Blob([bytes]));
    return classifier(image, { top_k: 5 });
}

async function once(args) {
    const classifier = await loadClassifier(args.modelDir, args.threads);
    const top = await classifyBytes(classifier, readFileSync(args.once));
    process.stdout.write(`1. ${top[0].label}: ${(top[0].score * 100).toFixed(2)}%\n`);
    await classifier.dispose();
}

async function serve(args) {
    const started = performance.now();
    const classifier = await loadClassifier(args.modelDir, args.threads);
    const session = classifier.model.sessions.model;
    const photos = new Map(); // name -> Buffer
    const inputs = new Map(); // name -> pixel_values (transformers.js Tensor)
    const send = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

    const pixelValues = async (name) => {
        if (!inputs.has(name)) {
            const image = await RawImage.fromBlob(new Blob([photos.get(name)]));
            inputs.set(name, (await classifier.processor(image)).pixel_values);
        }
        return inputs.get(name);
    };

    const handlers = {
        async load({ files }) {
            for (const [name, file] of Object.entries(files)) photos.set(name, readFileSync(file));
            return {};
        },
        async round({ names }) {
            const results = {};
            for (const name of names) {
                let t = performance.now();
                const top = await classifyBytes(classifier, photos.get(name));
                const whole_ms = performance.now() - t;
                const pixel_values = await pixelValues(name);
                t = performance.now();
                await session.run({ pixel_values: pixel_values.ort_tensor });
                const run_ms = performance.now() - t;
                t = performance.now();
                await classifier.model({ pixel_values });
                const model_ms = performance.now() - t;
                results[name] = { whole_ms, run_ms, model_ms, top5: top.map((p) => [p.label, p.score]) };
            }
            return { results };
        },
        async input({ name }) {
            const pv = await pixelValues(name);
            const data = Buffer.from(pv.data.buffer, pv.data.byteOffset, pv.data.byteLength);
            return { shape: pv.dims, data_b64: data.toString('base64') };
        },
    };

    send({ ok: true, event: 'ready', load_ms: performance.now() - started, threads: args.threads, versions: versions() });
    const lines = readline.createInterface({ input: process.stdin, terminal: false });
    for await (const line of lines) {
        if (!line.trim()) continue;
        let request;
        try {
            request = JSON.parse(line);
        } catch (err) {
            send({ ok: false, error: `bad request: ${err.message}` });
            continue;
        }
        if (request.op === 'quit') break;
        const handler = handlers[request.op];
        try {
            if (!handler) throw new Error(`unknown op ${request.op}`);
            send({ ok: true, ...(await handler(request)) });
        } catch (err) {
            send({ ok: false, error: `${err.name}: ${err.message}` });
        }
    }
    await classifier.dispose();
    process.exit(0); // stdin may still be open
}

const args = parseArgs(process.argv.slice(2));
(args.once ? once(args) : serve(args)).catch((err) => {
    process.stderr.write(`worker.mjs: ${err.stack || err}\n`);
    process.exit(1);
});
