import { randomUUID } from 'node:crypto';
import { one, type Queryable } from '../db.ts';

export interface Organization {
  id: string;
  name: string;
  created_at: Date;
}

export async function createOrganization(db: Queryable, name: string): Promise<Organization> {
  return (await one<Organization>(db, 'insert into organizations (id, name) values ($1, $2) returning *', [randomUUID(), name]))!;
}

export const getOrganization = (db: Queryable, id: string) => one<Organization>(db, 'select * from organizations where id = $1', [id]);

export const listOrganizations = (db: Queryable, limit: number, offset: number) =>
  db.query<Organization>('select * from organizations order by created_at, id limit $1 offset $2', [limit, offset]);

export const renameOrganization = (db: Queryable, id: string, name: string) =>
  one<Organization>(db, 'update organizations set name = $2 where id = $1 returning *', [id, name]);
