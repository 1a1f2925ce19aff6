using Marten;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Application.Store;

/// <summary>Reading a read model, optionally waiting (bounded) until it reflects a given stream version.</summary>
public static class ReadModels
{
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(25);

    /// <summary>
    /// The object's read model once its version is at least <paramref name="minVersion"/> (if given),
    /// waiting at most 5 s; after that the latest state is returned as it is. Unknown id: HANDLE_INVALID.
    /// </summary>
    public static async Task<T> LoadAsync<T>(IQuerySession session, Guid id, string objectClass, long? minVersion, Func<T, long> version, TimeProvider time, CancellationToken ct)
        where T : class
    {
        var deadline = time.GetUtcNow() + MaxWait;
        while (true)
        {
            var doc = await session.LoadAsync<T>(id, ct);
            if (doc is not null && (minVersion is null || version(doc) >= minVersion))
            {
                return doc;
            }

            if (time.GetUtcNow() >= deadline)
            {
                return doc ?? throw XapiException.HandleInvalid(objectClass, id);
            }

            if (doc is null && minVersion is null)
            {
                throw XapiException.HandleInvalid(objectClass, id);
            }

            await Task.Delay(Poll, time, ct);
        }
    }
}
