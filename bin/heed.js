#!/usr/bin/env node
// The `heed` command: runs the compiled CLI.
import '../dist/cli/main.js';
