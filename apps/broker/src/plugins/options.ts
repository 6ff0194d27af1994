/** Checks of plugin options: each failure names the option, what was expected and what came. */

/** Thrown by a plugin's init; culex reports it as CULEX_ERR_PLUGIN. */
export class PluginOptionError extends Error {
  constructor (option: string, expected: string, got: unknown) {
    super(`option ${option}: expected ${expected}, got ${JSON.stringify(got)}`)
    this.name = 'PluginOptionError'
  }
}

export function optString (o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string' || v === '') throw new PluginOptionError(key, 'a non-empty string', v)
  return v
}

export function optInt (o: Record<string, unknown>, key: string, min: number, max: number, dflt: number): number {
  const v = o[key]
  if (v === undefined || v === null) return dflt
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new PluginOptionError(key, `an integer from ${min} to ${max}`, v)
  return v
}

export function optBool (o: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = o[key]
  if (v === undefined || v === null) return dflt
  if (typeof v !== 'boolean') throw new PluginOptionError(key, 'true or false', v)
  return v
}

export function optStrings (o: Record<string, unknown>, key: string): string[] | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v === 'string' && v !== '') return [v]
  if (!Array.isArray(v) || v.length === 0 || !v.every(x => typeof x === 'string' && x !== '')) throw new PluginOptionError(key, 'a string or a non-empty list of strings', v)
  return v as string[]
}

export function optStringMap (o: Record<string, unknown>, key: string): Record<string, string> {
  const v = o[key]
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every(x => typeof x === 'string')) throw new PluginOptionError(key, 'a mapping of strings', v)
  return v as Record<string, string>
}

export function checkKnown (o: Record<string, unknown>, known: readonly string[], plugin: string): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new Error(`${plugin}: unknown option ${JSON.stringify(k)} (known: ${known.join(', ')})`)
  }
}

/** `$share/group/filter` → `filter` (authorization looks at the topics a filter matches). */
export function unshare (filter: string): string {
  if (!filter.startsWith('$share/')) return filter
  const slash = filter.indexOf('/', 7)
  return slash === -1 ? filter : filter.slice(slash + 1)
}

/**
 * `filterMatches` for the per-delivery checks, on a filter split once: walks the topic in
 * place instead of splitting it, so a delivery allocates nothing: 7–9× faster than
 * filterMatches for three filters (bench/plugin-read-check.bench.ts).
 */
export function levelsMatch (levels: readonly string[], topic: string): boolean {
  let pos = 0
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i] as string
    if (l === '#') return true // also the parent level [MQTT-4.7.1-2]
    if (pos > topic.length) return false
    let end = topic.indexOf('/', pos)
    if (end === -1) end = topic.length
    if (l !== '+' && !(end - pos === l.length && topic.startsWith(l, pos))) return false
    pos = end + 1
  }
  return pos === topic.length + 1
}
