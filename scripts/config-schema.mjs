// Writes config.schema.json (the JSON Schema of the config file) from the schema the loader validates with.
import { writeFileSync } from 'node:fs';
import { configSchemaText } from '../dist/config/schema.js';

writeFileSync(new URL('../config.schema.json', import.meta.url), configSchemaText());
