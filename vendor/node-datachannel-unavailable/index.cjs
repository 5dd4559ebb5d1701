throw new Error('node-datachannel is not installed in this repository (its build needs GitHub); run WebRTC clients in a browser instead (see vendor/node-datachannel-unavailable/package.json)');
