//! Registry v1, index and v2 distribution: the servers behind `berth registry` and
//! `berth index`, and the client the engine pulls and pushes with. Filled in by the registry issue.
