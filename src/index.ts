/**
 * @module The package entry (`import { MarionetteClient } from 'marionette'`): the typed API client,
 * its errors and types, and the API's shared schemas and operations table for those who validate
 * or generate from them.
 */

export { OPERATIONS, type OperationId } from './api/operations.js';
export * as responses from './api/responses.js';
export * as schemas from './api/schemas.js';
export * from './client/index.js';
