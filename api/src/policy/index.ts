/** Egress rules as Turgon merges and compares them: shared by the operator and the dashboard. */
export {
  type EffectiveRules,
  mergeNetworkLayers,
  type NetworkLayers,
  policyRefOf,
  RULE_FIELDS,
  type RuleField,
  type RuleOrigin,
} from "./effective.ts";
export { hostCovered, type Relaxation, relaxations } from "./overrides.ts";
