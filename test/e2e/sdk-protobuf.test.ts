/** The official SDK's Protobuf build against a real gyre process (suite in helpers/sdk-suite.ts). */
import { sdkSuite } from '../helpers/sdk-suite.js';

sdkSuite('protobuf');
