using Marten;
using JasperFx.Events;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Application.Store;

/// <summary>Loading streams for writing and reading, answering HANDLE_INVALID for unknown ids.</summary>
public static class Streams
{
    /// <summary>
    /// FetchForExclusiveWriting: the stream locked first (see <see cref="StreamLocks"/>), then its state with the
    /// version it was read at, which SaveChanges checks; a concurrent writer waits instead of failing.
    /// </summary>
    public static async Task<IEventStream<T>> WriteAsync<T>(this IDocumentSession session, Guid id, string objectClass, CancellationToken ct)
        where T : class
    {
        var stream = await session.Events.FetchForExclusiveWriting<T>(id, ct);
        return stream.Aggregate is null ? throw XapiException.HandleInvalid(objectClass, id) : stream;
    }

    /// <summary>The object's read model, or HANDLE_INVALID.</summary>
    public static async Task<T> GetAsync<T>(this IQuerySession session, Guid id, string objectClass, CancellationToken ct)
        where T : class =>
        await session.LoadAsync<T>(id, ct) ?? throw XapiException.HandleInvalid(objectClass, id);
}
