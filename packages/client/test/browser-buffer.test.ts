import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { Buffer as B, isUtf8 } from '../src/browser-buffer.ts'

/** Internal Buffer methods @culex/packet calls (not in Node's public typings). */
interface Internals {
  utf8Write: (s: string, o: number) => number
  latin1Write: (s: string, o: number) => number
  utf8Slice: (a?: number, b?: number) => string
  latin1Slice: (a?: number, b?: number) => string
}

t.test('the browser Buffer implements what @culex/packet and the client call', async (t) => {
  const s = B.from('héllo €')
  t.ok(s instanceof Uint8Array)
  t.ok(B.isBuffer(s))
  t.notOk(B.isBuffer(new Uint8Array(1)))
  t.same([...s], [...globalThis.Buffer.from('héllo €')])
  t.equal(s.toString(), 'héllo €')
  t.equal(s.toString('utf8', 0, 1), 'h')
  t.equal(B.from([104, 105]).toString('latin1'), 'hi')
  t.equal(B.from([1, 255]).toString('hex'), '01ff')
  t.equal(B.byteLength('h€😀', 'utf8'), globalThis.Buffer.byteLength('h€😀'))
  t.equal(B.byteLength(new Uint8Array(3) as never), 3)
  const ab = new ArrayBuffer(8)
  const v = B.from(ab, 2, 4)
  t.equal(v.byteOffset, 2)
  t.equal(v.length, 4)
  t.equal(B.from(ab).length, 8)
  const a = B.alloc(10)
  t.equal(a.length, 10)
  t.equal(a.writeUInt32BE(0xdeadbeef, 0), 4)
  t.equal(a.readUInt32BE(0), 0xdeadbeef)
  t.equal(a.writeUInt16BE(0x1234, 4), 6)
  t.equal(a.readUInt16BE(4), 0x1234)
  const u = B.allocUnsafe(8) as Buffer & Internals
  t.equal(u.utf8Write('€', 0), 3)
  t.equal(u.latin1Write('ab', 3), 2)
  t.equal(u.utf8Slice(0, 3), '€')
  t.equal(u.latin1Slice(3, 5), 'ab')
  t.equal(u.write('z', 5), 1)
  const sub = u.subarray(0, 3)
  t.ok(B.isBuffer(sub), 'subarray keeps the class')
  const dst = B.alloc(4)
  t.equal(u.copy(dst, 1, 3, 5), 2)
  t.same([...dst], [0, 97, 98, 0])
  t.ok(B.from('ab').equals(B.from('ab')))
  t.notOk(B.from('ab').equals(B.from('ac')))
  t.notOk(B.from('ab').equals(B.from('abc')))
  const c = B.concat([B.from('ab'), new Uint8Array([99])])
  t.equal(c.toString(), 'abc')
  t.equal(B.concat([B.from('a')], 1).toString(), 'a')
  t.ok(isUtf8(B.from('ok €')))
  t.notOk(isUtf8(new Uint8Array([0xc3, 0x28])))
  const big = B.alloc(10000, 0) as Buffer & Internals
  big.fill(65)
  t.equal(big.latin1Slice().length, 10000)
})

t.test('the browser Buffer has every Buffer method the built @culex/packet calls', async (t) => {
  const src = readFileSync(fileURLToPath(import.meta.resolve('@culex/packet')), 'utf8')
  const statics = new Set([...src.matchAll(/\bBuffer\.([A-Za-z]+)/g)].map((m) => m[1]!))
  const methods = new Set([...src.matchAll(/\.((?:utf8|latin1|ascii|hex|base64|ucs2)(?:Slice|Write)|(?:read|write)U?Int\d+[BL]E|copy|equals)\(/g)].map((m) => m[1]!))
  t.ok(statics.size > 0 && methods.size > 0, `found ${[...statics].join(', ')} / ${[...methods].join(', ')}`)
  for (const name of statics) t.equal(typeof (B as unknown as Record<string, unknown>)[name], 'function', `Buffer.${name}`)
  const proto = B.alloc(1) as unknown as Record<string, unknown>
  for (const name of methods) t.equal(typeof proto[name], 'function', `buffer.${name}()`)
  t.equal(B.allocUnsafeSlow(3).length, 3)
})
