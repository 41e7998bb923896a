/**
 * @module The `local` provider's row of the capability matrix (the seed's class default).
 */
import { PROVIDER_CLASS_CAPABILITIES } from '../../core/capabilities.js';
import type { SandboxProviderCapabilities } from '../types.js';

export const LOCAL_CAPABILITIES: SandboxProviderCapabilities = { ...PROVIDER_CLASS_CAPABILITIES.local! };
