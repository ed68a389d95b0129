select coalesce(wait_event_type,'cpu')||':'||coalesce(wait_event,'-')||':'||left(query,12) from pg_stat_activity where state='active' and pid<>pg_backend_pid() and backend_type in ('client backend') ;
\watch 0.01
