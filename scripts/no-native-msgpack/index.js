// msgpackr loads its native extractor in a try/catch and falls back to pure
// JavaScript when the require fails; failing here is the point.
throw new Error('msgpackr-extract is not installed in this project (pure-JavaScript MessagePack only)');
