#!/usr/bin/env node
'use strict';
// Adds (or checks) package.json "node-red".nodes entries: node tools/add-node-entry.js <type> [...]
const fs = require('fs');
const path = require('path');
const file = path.join(__dirname, '..', 'package.json');
const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
for (const type of process.argv.slice(2)) pkg['node-red'].nodes[type] = `dist/nodes/${type}/${type}.js`;
pkg['node-red'].nodes = Object.fromEntries(Object.entries(pkg['node-red'].nodes).sort(([a], [b]) => a.localeCompare(b)));
fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + '\n');
console.log(Object.keys(pkg['node-red'].nodes).join(', '));
