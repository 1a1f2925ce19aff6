using Marten;
using Marten.Services;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xapi.Cqrs.Application.Pipeline;

namespace Xapi.Cqrs.Application.Store;

/// <summary>
/// Marten's session logger, minus its Error entries (with SQL and parameters) for an expected concurrency
/// conflict: a unique-key violation on an event stream's version, a stream version mismatch (MT003) or a
/// stream id taken. Those are decided again by the caller and logged once, at Debug, here.
/// </summary>
public sealed class QuietConflictLogger(IMartenSessionLogger inner, ILogger log) : IMartenSessionLogger
{
    public void LogSuccess(NpgsqlCommand command) => inner.LogSuccess(command);

    public void LogSuccess(NpgsqlBatch batch) => inner.LogSuccess(batch);

    public void LogFailure(NpgsqlCommand command, Exception ex)
    {
        if (!Quiet(ex))
        {
            inner.LogFailure(command, ex);
        }
    }

    public void LogFailure(NpgsqlBatch batch, Exception ex)
    {
        if (!Quiet(ex))
        {
            inner.LogFailure(batch, ex);
        }
    }

    public void LogFailure(Exception ex, string message)
    {
        if (!Quiet(ex))
        {
            inner.LogFailure(ex, message);
        }
    }

    public void RecordSavedChanges(IDocumentSession session, IChangeSet commit) => inner.RecordSavedChanges(session, commit);

    public void OnBeforeExecute(NpgsqlCommand command) => inner.OnBeforeExecute(command);

    public void OnBeforeExecute(NpgsqlBatch batch) => inner.OnBeforeExecute(batch);

    private bool Quiet(Exception ex)
    {
        if (!IsExpectedConflict(ex))
        {
            return false;
        }

        log.LogDebug("expected concurrency conflict: {Message}", ex.Message);
        return true;
    }

    public static bool IsExpectedConflict(Exception? ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is PostgresException { SqlState: "MT003" } or PostgresException { SqlState: "23505", ConstraintName: "pk_mt_events_stream_and_version" or "pk_mt_streams" })
            {
                return true;
            }
        }

        return Conflicts.IsConcurrencyConflict(ex);
    }
}
