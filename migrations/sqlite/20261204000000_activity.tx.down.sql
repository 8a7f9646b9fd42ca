-- The activity chart's history goes: the counters start over.
DROP TABLE activity;
