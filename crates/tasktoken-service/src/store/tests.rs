//! The store suite, run against SQLite here and against PostgreSQL when
//! `TASKTOKEN_TEST_POSTGRES` names a database (`.ci/run` starts one).
