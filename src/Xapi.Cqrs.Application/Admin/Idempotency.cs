using Marten;

namespace Xapi.Cqrs.Application.Admin;

/// <summary>The first answer to a request sent with an Idempotency-Key, kept so a retry gets it again.</summary>
public sealed record IdempotencyRecord
{
    public string Id { get; set; } = "";
    public string RequestHash { get; init; } = "";
    public bool Completed { get; init; }
    public int StatusCode { get; init; }
    public string ContentType { get; init; } = "";
    public string Body { get; init; } = "";
    public string? Location { get; init; }
    public DateTimeOffset Created { get; init; }
}

public sealed class IdempotencyStore(IDocumentStore store, TimeProvider time)
{
    public enum Outcome
    {
        Started,
        InProgress,
        Mismatch,
        Replay,
    }

    /// <summary>Claims the key (insert fails if another request holds it) or returns what is already there.</summary>
    public async Task<(Outcome Outcome, IdempotencyRecord? Record)> BeginAsync(string id, string requestHash, CancellationToken ct)
    {
        await using (var query = store.QuerySession())
        {
            if (await query.LoadAsync<IdempotencyRecord>(id, ct) is { } existing)
            {
                return Classify(existing, requestHash);
            }
        }

        try
        {
            await using var session = store.LightweightSession();
            session.Insert(new IdempotencyRecord { Id = id, RequestHash = requestHash, Created = time.GetUtcNow() });
            await session.SaveChangesAsync(ct);
            return (Outcome.Started, null);
        }
        catch (Exception e) when (e.GetType().Name.Contains("DocumentAlreadyExists", StringComparison.Ordinal) || e.InnerException is Npgsql.PostgresException { SqlState: "23505" })
        {
            await using var query = store.QuerySession();
            var existing = await query.LoadAsync<IdempotencyRecord>(id, ct);
            return existing is null ? (Outcome.InProgress, null) : Classify(existing, requestHash);
        }
    }

    public async Task CompleteAsync(string id, string requestHash, int status, string contentType, string body, string? location, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        session.Store(new IdempotencyRecord
        {
            Id = id, RequestHash = requestHash, Completed = true, StatusCode = status, ContentType = contentType, Body = body, Location = location, Created = time.GetUtcNow(),
        });
        await session.SaveChangesAsync(ct);
    }

    /// <summary>The request failed unexpectedly: free the key so a retry runs it again.</summary>
    public async Task AbandonAsync(string id, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        session.Delete<IdempotencyRecord>(id);
        await session.SaveChangesAsync(ct);
    }

    private static (Outcome, IdempotencyRecord?) Classify(IdempotencyRecord existing, string requestHash) =>
        existing.RequestHash != requestHash ? (Outcome.Mismatch, existing)
        : existing.Completed ? (Outcome.Replay, existing)
        : (Outcome.InProgress, existing);
}
