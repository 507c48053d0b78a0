'use strict';
/**
 * A local osls plugin (serverless.yml `plugins`): one AWS::EventSchemas::Schema per document in
 * docs/schemas/registry/, in an AWS::EventSchemas::Registry, all under the CreateSchemaRegistry
 * condition (stage parameter schemaRegistry=true). The documents are generated from the event
 * contract (scripts/generate-schemas.ts, checked fresh by test/docs-schemas.test.ts), so an event
 * added there reaches the stack without editing serverless.yml. CloudFormation takes a schema's
 * Content only as a string, which a `${file()}` variable of a JSON file cannot give; hence a plugin.
 * CommonJS because osls loads local plugins with require().
 */
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const REGISTRY_FOLDER = join(__dirname, '..', 'docs', 'schemas', 'registry');
const CONDITION = 'CreateSchemaRegistry';

const pascal = (text) =>
  text
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word[0].toUpperCase() + word.slice(1))
    .join('');

/** The registry resources for these documents, the event source set to the stack's own. */
function registryResources(documents, { registryName, eventSource }) {
  const resources = {
    SchemaRegistry: {
      Type: 'AWS::EventSchemas::Registry',
      Condition: CONDITION,
      Properties: {
        RegistryName: registryName,
        Description: 'Events published by taurusdb-proxy-upgrader (README "Published events")',
      },
    },
  };
  for (const document of documents) {
    const envelope = document.components.schemas.AWSEvent;
    const detailType = envelope['x-amazon-events-detail-type'];
    envelope['x-amazon-events-source'] = eventSource;
    resources[`${pascal(detailType)}Schema`] = {
      Type: 'AWS::EventSchemas::Schema',
      Condition: CONDITION,
      Properties: {
        RegistryName: { 'Fn::GetAtt': ['SchemaRegistry', 'RegistryName'] },
        // The registry's own naming for discovered events: <source>@<DetailType without spaces>.
        SchemaName: `${eventSource}@${pascal(detailType)}`,
        Type: 'OpenApi3',
        Description: document.info.description,
        Content: JSON.stringify(document),
      },
    };
  }
  return resources;
}

function readDocuments(folder = REGISTRY_FOLDER) {
  return readdirSync(folder)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => JSON.parse(readFileSync(join(folder, name), 'utf8')));
}

class SchemaRegistryPlugin {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'package:compileEvents': () => this.addResources() };
  }

  addResources() {
    const service = this.serverless.service;
    const stage = this.serverless.getProvider('aws').getStage();
    const template = service.provider.compiledCloudFormationTemplate;
    Object.assign(
      template.Resources,
      registryResources(readDocuments(), {
        registryName: `${service.service}-${stage}`,
        eventSource: service.provider.environment.EVENT_SOURCE,
      }),
    );
  }
}

module.exports = SchemaRegistryPlugin;
module.exports.registryResources = registryResources;
