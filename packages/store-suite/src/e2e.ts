/**
 * `@culex/store-suite/e2e`: the end-to-end suites that run the built `culex` app with a
 * store (SIGKILL durability, two-node cluster). A separate entry, so the contract suite's own
 * tests do not load them: they run in the store packages, against stores that outlive a
 * process.
 */
export { durabilitySuite, type DurabilityOptions } from './durability.ts'
export { heldQos2Suite } from './durability-qos2.ts'
export { clusterSuite, type ClusterOptions } from './cluster.ts'
export { CULEX_CLI } from './culex.ts'
export { overloadSuite, type OverloadOptions } from './overload.ts'
export { deliveryLogModelSuite, type DeliveryLogModelOptions } from './delivery-log-model.ts'
