/**
 * The AuthZEN Authorization API 1.0 messages as schemas (zod), written from the specification's information model:
 * subject and resource `{ type, id, properties? }`, action `{ name, properties? }`, context an object; a decision
 * `{ decision: boolean, context? }`; evaluations `{ evaluations: [decision…] }`; search answers `{ results, page? }`;
 * the PDP metadata. Every request a test sends and every answer it gets is parsed with them.
 */
import * as z from 'zod';

const props = z.record(z.string(), z.unknown());
export const azSubject = z.object({ type: z.string().min(1), id: z.string().min(1), properties: props.optional() });
export const azResource = azSubject;
export const azAction = z.object({ name: z.string().min(1), properties: props.optional() });
export const azEvaluationRequest = z.object({ subject: azSubject, resource: azResource, action: azAction, context: props.optional() });
const partial = z.object({ subject: azSubject.optional(), resource: azResource.optional(), action: azAction.optional(), context: props.optional() });
export const azEvaluationsRequest = partial.extend({
  evaluations: z.array(partial).optional(),
  options: z.object({ evaluations_semantic: z.enum(['execute_all', 'deny_on_first_deny', 'permit_on_first_permit']).optional() }).catchall(z.unknown()).optional(),
});
export const azDecision = z.object({ decision: z.boolean(), context: props.optional() }).strict();
export const azEvaluationsResponse = z.object({ evaluations: z.array(azDecision) }).strict();
const page = z.object({ next_token: z.string().optional() }).catchall(z.unknown()).optional();
export const azSearchEntities = z.object({ results: z.array(azSubject.omit({ properties: true }).extend({ properties: props.optional() })), page, context: props.optional() }).strict();
export const azSearchActions = z.object({ results: z.array(azAction), page, context: props.optional() }).strict();
export const azMetadata = z.object({
  policy_decision_point: z.url(),
  access_evaluation_endpoint: z.url().optional(),
  access_evaluations_endpoint: z.url().optional(),
  search_subject_endpoint: z.url().optional(),
  search_resource_endpoint: z.url().optional(),
  search_action_endpoint: z.url().optional(),
});
