using Marten;
using Marten.Services;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Shouldly;
using Xapi.Cqrs.Application.Store;

namespace Xapi.Cqrs.Application.Tests.Store;

/// <summary>
/// Issue "the start path at pool scale", quiet logs: Marten's Error entries (SQL and parameters) for an expected
/// concurrency conflict are dropped; every other failure still reaches Marten's logger.
/// </summary>
public sealed class QuietConflictLoggerTests
{
    private readonly Recorder inner = new();

    private QuietConflictLogger Logger => new(inner, NullLogger.Instance);

    [Theory]
    [InlineData("MT003", null)]
    [InlineData("23505", "pk_mt_events_stream_and_version")]
    [InlineData("23505", "pk_mt_streams")]
    public void Expected_conflict_is_not_logged_by_marten(string sqlState, string? constraint)
    {
        var conflict = new PostgresException("conflict", "ERROR", "ERROR", sqlState, constraintName: constraint);

        Logger.LogFailure(new NpgsqlBatch(), conflict);
        Logger.LogFailure(new NpgsqlCommand(), new InvalidOperationException("wrapped", conflict));
        Logger.LogFailure(conflict, "failed");

        inner.Failures.ShouldBe(0);
    }

    [Fact]
    public void Other_failures_are_still_logged_by_marten()
    {
        Logger.LogFailure(new NpgsqlBatch(), new PostgresException("no such table", "ERROR", "ERROR", "42P01"));
        Logger.LogFailure(new NpgsqlCommand(), new PostgresException("duplicate", "ERROR", "ERROR", "23505", constraintName: "pk_mt_doc_vm"));
        Logger.LogFailure(new TimeoutException("slow"), "failed");

        inner.Failures.ShouldBe(3);
    }

    private sealed class Recorder : IMartenSessionLogger
    {
        public int Failures { get; private set; }

        public void LogSuccess(NpgsqlCommand command)
        {
        }

        public void LogFailure(NpgsqlCommand command, Exception ex) => Failures++;

        public void LogSuccess(NpgsqlBatch batch)
        {
        }

        public void LogFailure(NpgsqlBatch batch, Exception ex) => Failures++;

        public void LogFailure(Exception ex, string message) => Failures++;

        public void RecordSavedChanges(IDocumentSession session, IChangeSet commit)
        {
        }

        public void OnBeforeExecute(NpgsqlCommand command)
        {
        }

        public void OnBeforeExecute(NpgsqlBatch batch)
        {
        }
    }
}
