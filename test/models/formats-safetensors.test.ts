// safetensors: round trips for every dtype, byte-identity with files PyTorch wrote, every kind of
// corrupt header rejected with the file and tensor named, sharded folders, atomic writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encodeSafetensors, readSafetensors, readSafetensorsFolder, toF32, castFloat, writeSafetensors, type TensorData,
} from '../../src/models/safetensors.js';
import { writeFileAtomic, writeJsonAtomic } from '../../src/util/atomic.js';

const FIX = 'test/fixtures/models';
const tmp = () => mkdtempSync(join(tmpdir(), 'heed-st-'));
const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));

function everyDtype(): Map<string, TensorData> {
  return new Map<string, TensorData>([
    ['a.f32', { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, -0, 1e-30]) }],
    ['b.f16', { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0x7bff, 0x0001]) }],
    ['c.bf16', { dtype: 'BF16', shape: [1, 2], data: new Uint16Array([0x3f80, 0xc020]) }],
    ['d.i32', { dtype: 'I32', shape: [2], data: new Int32Array([-7, 2 ** 31 - 1]) }],
    ['e.i64', { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 62n), 5n]) }],
    ['f.u8', { dtype: 'U8', shape: [3], data: new Uint8Array([0, 128, 255]) }],
    ['g.i8', { dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) }],
    ['h.f64', { dtype: 'F64', shape: [1], data: new Float64Array([Math.PI]) }],
    ['i.bool', { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) }],
    ['j.scalar', { dtype: 'F32', shape: [], data: new Float32Array([42]) }],
    ['k.empty', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
  ]);
}

test('round trip for every dtype, scalars and empty tensors, with metadata', () => {
  const dir = tmp();
  const p = join(dir, 'sub', 'x.safetensors');
  const src = everyDtype();
  writeSafetensors(p, src, { format: 'pt', note: 'ünïcode' });
  const { tensors, metadata } = readSafetensors(p);
  assert.deepEqual(metadata, { format: 'pt', note: 'ünïcode' });
  assert.deepEqual([...tensors.keys()].sort(), [...src.keys()].sort());
  for (const [name, t] of src) {
    const got = tensors.get(name)!;
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.equal(got.data.constructor, t.data.constructor, name);
    assert.deepEqual(Array.from(got.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>), name);
  }
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['x.safetensors'], 'no temporary files left behind');
  rmSync(dir, { recursive: true });
});

test('header is 8-byte aligned, space padded, and tensors ordered by dtype then name', () => {
  const bytes = concat(encodeSafetensors(everyDtype()));
  const n = Number(bytes.readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  const text = bytes.subarray(8, 8 + n).toString('utf8');
  assert.match(text, /^\{.*\} *$/);
  const order = Object.keys(JSON.parse(text));
  assert.deepEqual(order, ['e.i64', 'h.f64', 'a.f32', 'j.scalar', 'k.empty', 'd.i32', 'c.bf16', 'b.f16', 'g.i8', 'f.u8', 'i.bool']);
});

test('reads the PyTorch-written fixture and re-encodes it byte for byte', () => {
  for (const file of [`${FIX}/dtypes.safetensors`, `${FIX}/tiny-gpt2/model.safetensors`, `${FIX}/tiny-qwen2/model.safetensors`,
    `${FIX}/tiny-llama/model-00001-of-00002.safetensors`]) {
    const { tensors, metadata } = readSafetensors(file);
    assert.deepEqual(concat(encodeSafetensors(tensors, metadata)), readFileSync(file), file);
  }
  const { tensors } = readSafetensors(`${FIX}/dtypes.safetensors`);
  const fx = JSON.parse(readFileSync(`${FIX}/dtypes.json`, 'utf8')) as { f32_bits: number[]; f16_bits: number[]; bf16_bits: number[] };
  assert.deepEqual(Array.from(new Uint32Array(tensors.get('f32')!.data.buffer, tensors.get('f32')!.data.byteOffset, fx.f32_bits.length)), fx.f32_bits);
  assert.deepEqual(Array.from(tensors.get('f16')!.data as Uint16Array), fx.f16_bits);
  assert.deepEqual(Array.from(tensors.get('bf16')!.data as Uint16Array), fx.bf16_bits);
  assert.deepEqual(Array.from(tensors.get('i64')!.data as BigInt64Array), [-(2n ** 40n), 7n]);
  assert.deepEqual(tensors.get('i64')!.shape, [1, 2]);
  assert.deepEqual(Array.from(tensors.get('i8')!.data as Int8Array), [-128, 127, 0]);
  assert.deepEqual(Array.from(tensors.get('bool')!.data as Uint8Array), [1, 0, 1]);
  assert.deepEqual(Array.from(tensors.get('f64')!.data as Float64Array), [1.5, -2.25, 1e300]);
  assert.deepEqual(tensors.get('scalar')!.shape, []);
  assert.deepEqual(tensors.get('empty')!.shape, [0, 3]);
  // toF32 decodes the half formats to the values PyTorch's own rounding produced
  const f16 = toF32(tensors.get('f16')!);
  assert.equal(f16[2], 1); // index 2 is 1.0
  assert.equal(f16[4], 65504);
  assert.equal(f16[5], Infinity);
  assert.equal(toF32(tensors.get('bf16')!)[3], -2.5);
});

test('castFloat converts between F32, BF16 and F16', () => {
  const t: TensorData = { dtype: 'F32', shape: [3], data: new Float32Array([1, 1 + 2 ** -11, 3]) };
  const h = castFloat(t, 'F16');
  assert.equal(h.dtype, 'F16');
  assert.deepEqual(Array.from(h.data as Uint16Array), [0x3c00, 0x3c00, 0x4200]);
  const b = castFloat(h, 'BF16');
  assert.deepEqual(Array.from(b.data as Uint16Array), [0x3f80, 0x3f80, 0x4040]);
  assert.equal(castFloat(t, 'F32'), t);
  const back = castFloat(b, 'F32');
  assert.deepEqual(Array.from(back.data as Float32Array), [1, 1, 3]);
});

// --- corrupt files ----------------------------------------------------------------------------

function rawFile(header: unknown, dataLen: number, headerText?: string): Buffer {
  const text = headerText ?? JSON.stringify(header);
  const h = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, Buffer.alloc(dataLen)]);
}

test('corrupt files fail with an error naming the file and the tensor', () => {
  const dir = tmp();
  const good = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
  const cases: [string, Buffer, RegExp][] = [
    ['short', Buffer.from([1, 2, 3]), /shorter than the 8-byte header length/],
    ['len-past-eof', (() => { const b = rawFile(good, 12); b.writeBigUInt64LE(10_000n); return b; })(), /header length 10000 runs past the end/],
    ['huge-len', (() => { const b = rawFile(good, 12); b.writeBigUInt64LE(2n ** 63n); return b; })(), /exceeds 100000000/],
    ['bad-json', rawFile(null, 12, '{"w": {"dtype": "F32",'), /not valid UTF-8 JSON/],
    ['not-object', rawFile([1, 2], 0), /not a JSON object/],
    ['truncated', rawFile(good, 10), /tensor "b".*run past the data region \(10 bytes\)/],
    ['trailing', rawFile(good, 16), /data region is 16 bytes but tensors cover 12 \(last: "b"\)/],
    ['overlap', rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8),
      /tensor "b" \(bytes 4\.\.8\) overlaps tensor "w"|tensor "w".*overlaps tensor "b"/],
    ['gap', rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] } }, 16),
      /gap of 4 bytes before tensor "b"/],
    ['shape-bytes', rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /tensor "w": F32 \[3\] needs 12 bytes but data_offsets \[0, 8\] hold 8/],
    ['dtype-size', rawFile({ w: { dtype: 'F16', shape: [2], data_offsets: [0, 8] } }, 8), /tensor "w": F16 \[2\] needs 4 bytes/],
    ['unknown-dtype', rawFile({ w: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }, 8), /tensor "w": unsupported dtype "F8_E4M3"/],
    ['no-dtype', rawFile({ w: { shape: [2], data_offsets: [0, 8] } }, 8), /tensor "w": missing dtype/],
    ['no-offsets', rawFile({ w: { dtype: 'F32', shape: [2] } }, 8), /tensor "w": data_offsets undefined is not \[begin, end\]/],
    ['bad-shape', rawFile({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8), /tensor "w": shape \[-2\] is not a list/],
    ['reversed', rawFile({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, 8), /tensor "w": data_offsets \[8, 0\] end before they begin/],
    ['bad-meta', rawFile({ __metadata__: { n: 3 } }, 0), /__metadata__ value for "n" is not a string/],
    ['bad-utf8', (() => { const b = rawFile(null, 0, '{"\u00e9":1}'); b[10] = 0xff; return b; })(), /not valid UTF-8 JSON/],
  ];
  for (const [name, bytes, re] of cases) {
    const p = join(dir, `${name}.safetensors`);
    writeFileSync(p, bytes);
    assert.throws(() => readSafetensors(p), (e: Error) => {
      assert.ok(e.message.includes(p), `${name}: message should name the file: ${e.message}`);
      assert.match(e.message, re, name);
      return true;
    }, name);
  }
  // the same two tensors with correct offsets parse: the cases above fail for the stated reason only
  writeFileSync(join(dir, 'good.safetensors'), rawFile(good, 12));
  assert.equal(readSafetensors(join(dir, 'good.safetensors')).tensors.size, 2);
  rmSync(dir, { recursive: true });
});

test('misaligned tensors (legal but unusual) are copied, not mis-viewed', () => {
  const dir = tmp();
  const header = JSON.stringify({ a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, w: { dtype: 'F32', shape: [1], data_offsets: [1, 5] } });
  const h = Buffer.from(header + ' '.repeat((8 - (header.length % 8)) % 8));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const data = Buffer.alloc(5);
  data[0] = 7;
  data.writeFloatLE(2.5, 1);
  writeFileSync(join(dir, 'm.safetensors'), Buffer.concat([len, h, data]));
  const { tensors } = readSafetensors(join(dir, 'm.safetensors'));
  assert.equal((tensors.get('w')!.data as Float32Array)[0], 2.5);
  assert.equal((tensors.get('a')!.data as Uint8Array)[0], 7);
  rmSync(dir, { recursive: true });
});

test('writer rejects tensors whose data does not match dtype or shape', () => {
  const bad: [string, TensorData, RegExp][] = [
    ['len', { dtype: 'F32', shape: [3], data: new Float32Array(2) }, /tensor "len": shape \[3\] has 3 elements but data has 2/],
    ['kind', { dtype: 'BF16', shape: [2], data: new Float32Array(2) }, /tensor "kind": dtype BF16 needs a Uint16Array, got Float32Array/],
    ['__metadata__', { dtype: 'F32', shape: [1], data: new Float32Array(1) }, /reserved/],
  ];
  for (const [name, t, re] of bad) assert.throws(() => encodeSafetensors(new Map([[name, t]])), re);
});

// --- sharded folders --------------------------------------------------------------------------

test('sharded folder: index + shards read as one checkpoint', () => {
  const { tensors } = readSafetensorsFolder(`${FIX}/tiny-llama`);
  const index = JSON.parse(readFileSync(`${FIX}/tiny-llama/model.safetensors.index.json`, 'utf8')) as { weight_map: Record<string, string> };
  assert.deepEqual([...tensors.keys()].sort(), Object.keys(index.weight_map).sort());
  assert.ok(new Set(Object.values(index.weight_map)).size === 2);
  assert.deepEqual(tensors.get('lm_head.weight')!.shape, [16, 8]);
});

test('sharded folder errors name the missing shard or tensor', () => {
  const dir = tmp();
  cpSync(`${FIX}/tiny-llama`, dir, { recursive: true });
  rmSync(join(dir, 'model-00002-of-00002.safetensors'));
  assert.throws(() => readSafetensorsFolder(dir), /shard "model-00002-of-00002\.safetensors" \(holding "[^"]+"\) does not exist/);

  cpSync(`${FIX}/tiny-llama`, dir, { recursive: true });
  const ip = join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(readFileSync(ip, 'utf8')) as { weight_map: Record<string, string> };
  index.weight_map['model.layers.9.extra.weight'] = 'model-00001-of-00002.safetensors';
  writeFileSync(ip, JSON.stringify(index));
  assert.throws(() => readSafetensorsFolder(dir), /tensor "model\.layers\.9\.extra\.weight" listed in model\.safetensors\.index\.json is not in this shard/);

  index.weight_map['x'] = '../evil.safetensors';
  writeFileSync(ip, JSON.stringify(index));
  assert.throws(() => readSafetensorsFolder(dir), /weight_map\["x"\] = "\.\.\/evil\.safetensors" is not a file name/);

  writeFileSync(ip, '{');
  assert.throws(() => readSafetensorsFolder(dir), /model\.safetensors\.index\.json: not valid JSON/);
  rmSync(ip);
  assert.throws(() => readSafetensorsFolder(dir), /no model\.safetensors or model\.safetensors\.index\.json/);
  rmSync(dir, { recursive: true });
});

// --- atomic writes ----------------------------------------------------------------------------

test('writeFileAtomic creates directories, replaces files, leaves no temporaries', () => {
  const dir = tmp();
  const p = join(dir, 'a', 'b', 'f.bin');
  writeFileAtomic(p, 'old');
  writeFileAtomic(p, [new Uint8Array([104, 105]), new Float32Array([1])]);
  assert.deepEqual([...readFileSync(p)], [104, 105, 0, 0, 128, 63]);
  writeJsonAtomic(join(dir, 'a', 'x.json'), { k: [1] });
  assert.equal(readFileSync(join(dir, 'a', 'x.json'), 'utf8'), '{\n  "k": [\n    1\n  ]\n}\n');
  assert.deepEqual(readdirSync(join(dir, 'a', 'b')), ['f.bin']);
  assert.throws(() => writeFileAtomic(join(p, 'under-a-file'), 'x'));
  rmSync(dir, { recursive: true });
});
