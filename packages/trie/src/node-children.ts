/**
 * Child storage shared by the two tries: one child inline, a Map from the second on.
 *
 * Most trie nodes have exactly one child (`fleet/{site}/{device}/telemetry`: every device
 * node has only `telemetry`). Keeping that child in two fields instead of a one-entry Map
 * saves that Map's memory on every such node (measured in bench/README.md). A node goes
 * back to inline storage when its Map drops to one entry.
 */

/** Anything with the three child fields. Internal. */
export interface Parent<N> {
  k0: string | null
  c0: N | null
  map: Map<string, N> | null
}

export function getChild<N> (p: Parent<N>, key: string): N | undefined {
  const m = p.map
  if (m !== null) return m.get(key)
  return p.k0 === key ? p.c0 as N : undefined
}

export function setChild<N> (p: Parent<N>, key: string, child: N): void {
  if (p.map !== null) {
    p.map.set(key, child)
  } else if (p.k0 === null) {
    p.k0 = key
    p.c0 = child
  } else {
    p.map = new Map([[p.k0, p.c0 as N], [key, child]])
    p.k0 = null
    p.c0 = null
  }
}

export function deleteChild<N> (p: Parent<N>, key: string): void {
  const m = p.map
  if (m === null) {
    p.k0 = null
    p.c0 = null
    return
  }
  m.delete(key)
  if (m.size === 1) {
    for (const [k, c] of m) {
      p.k0 = k
      p.c0 = c
    }
    p.map = null
  }
}

export function hasChildren<N> (p: Parent<N>): boolean {
  return p.map !== null || p.k0 !== null
}
