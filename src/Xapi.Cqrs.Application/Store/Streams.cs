using Marten;
using JasperFx.Events;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Application.Store;

/// <summary>Loading streams for writing and reading, answering HANDLE_INVALID for unknown ids.</summary>
public static class Streams
{
    /// <summary>FetchForWriting: the state with the version it was read at; SaveChanges checks that version.</summary>
    public static async Task<IEventStream<T>> WriteAsync<T>(this IDocumentSession session, Guid id, string objectClass, CancellationToken ct)
        where T : class
    {
        var stream = await session.Events.FetchForWriting<T>(id, ct);
        return stream.Aggregate is null ? throw XapiException.HandleInvalid(objectClass, id) : stream;
    }

    /// <summary>The object's read model, or HANDLE_INVALID.</summary>
    public static async Task<T> GetAsync<T>(this IQuerySession session, Guid id, string objectClass, CancellationToken ct)
        where T : class =>
        await session.LoadAsync<T>(id, ct) ?? throw XapiException.HandleInvalid(objectClass, id);
}
