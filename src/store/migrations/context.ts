/**
 * @module What a migration is told about the database it runs on (its own module, so the
 * migrations and their index do not import each other).
 */
export interface MigrationContext {
  dialect: 'sqlite' | 'postgres';
}
