/** The official SDK's JSON build against a real gyre process (suite in helpers/sdk-suite.ts). */
import { sdkSuite } from '../helpers/sdk-suite.js';

sdkSuite('json');
