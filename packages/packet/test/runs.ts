/**
 * fast-check run parameters: a fixed `numRuns` for `npm test`; with FUZZ_SECONDS set
 * (`npm run fuzz`), each property runs until that many seconds have passed.
 */
export interface RunParams { numRuns: number, interruptAfterTimeLimit?: number, markInterruptAsFailure?: boolean }

const fuzzSeconds = Number(process.env.FUZZ_SECONDS ?? 0)

export function runs (numRuns: number): RunParams {
  return fuzzSeconds > 0
    ? { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: fuzzSeconds * 1000, markInterruptAsFailure: false }
    : { numRuns }
}
