/** @module The API shapes the dashboard reads (the fields it uses of src/api/responses.ts). */

export interface Verdict {
  poolId: string;
  poolName: string;
  providerId: string;
  priority: number;
  reason: string | null;
  detail: string;
  chosen: boolean;
}
export interface Decision {
  chosenPoolId: string | null;
  action: string | null;
  verdicts: Verdict[];
  summary: string;
}
export interface Task {
  id: string;
  sessionId: string;
  ordinal: number;
  prompt: string;
  state: string;
  exitCode: number | null;
  error: string | null;
  createdAt: number;
}
export interface Session {
  id: string;
  agent: string;
  state: string;
  stateReason: string | null;
  poolId: string | null;
  runnerId: string | null;
  sandboxProvider: string | null;
  placement: Decision | null;
  createdAt: number;
  updatedAt: number;
  tasks?: Task[];
}
export interface Pool {
  id: string;
  name: string;
  mode: string;
  providerId: string;
  priority: number;
  active: boolean;
  labels: Record<string, string>;
  minRunners: number;
  maxRunners: number | null;
  selector: string | null;
  lifecycle: string;
  sandboxMode: string;
  suspendConfig: Record<string, unknown>;
  runners: { live: number; idle: number; bound: number; busy: number };
  health: 'ok' | 'warning' | 'unavailable';
  unavailableReason?: string;
  warnings: string[];
  substrate?: Record<string, unknown>;
}
export interface Runner {
  id: string;
  poolId: string;
  sessionId: string | null;
  name: string;
  state: string;
  labels: Record<string, string>;
  providerId: string;
  lastHeartbeatAt: number | null;
  createdAt: number;
}
export interface RegToken {
  id: string;
  pool: string;
  kind: string;
  description: string;
  status: string;
  expiresAt: number | null;
  useCount: number;
  createdAt: number;
  token?: string;
}
export interface CostEvent {
  id: string;
  sessionId: string | null;
  poolId: string | null;
  providerId: string;
  billingModel: string;
  startedAt: number;
  endedAt: number;
  seconds: number;
}
export interface Listing<T> {
  items: T[];
}
export interface Snapshot {
  id: string;
  sessionId: string;
  parentId: string | null;
  reason: 'checkpoint' | 'suspend' | 'fork';
  files: number;
  bytes: number;
  bytesNew: number;
  pinned: boolean;
  createdAt: number;
}
