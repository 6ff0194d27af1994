// Minimal types for the parts of qlobber 8 used by the tests and benchmarks.
declare module 'qlobber' {
  interface QlobberOptions {
    separator?: string
    wildcard_one?: string
    wildcard_some?: string
    match_empty_levels?: boolean
    max_words?: number
    cache_adds?: boolean | Map<string, unknown>
  }
  export class Qlobber<T = unknown> {
    constructor (options?: QlobberOptions)
    add (topic: string, val: T): this
    remove (topic: string, val?: T): this
    match (topic: string): T[]
    test (topic: string, val: T): boolean
    clear (): this
  }
  export class QlobberTrue {
    constructor (options?: QlobberOptions)
    add (topic: string): this
    remove (topic: string): this
    test (topic: string): boolean
  }
  export class QlobberDedup<T = unknown> {
    constructor (options?: QlobberOptions)
    add (topic: string, val: T): this
    remove (topic: string, val?: T): this
    match (topic: string): Set<T>
  }
  const qlobber: {
    Qlobber: typeof Qlobber
    QlobberTrue: typeof QlobberTrue
    QlobberDedup: typeof QlobberDedup
  }
  export default qlobber
}
