using Marten;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Application.Store;

/// <summary>Reading a read model, optionally waiting (bounded) until it reaches a state.</summary>
public static class ReadModels
{
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MaxPoll = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The object's read model once its version is at least <paramref name="minVersion"/> (if given),
    /// waiting at most 5 s; after that the latest state is returned as it is. Unknown id: HANDLE_INVALID.
    /// </summary>
    public static Task<T> LoadAsync<T>(IQuerySession session, Guid id, string objectClass, long? minVersion, Func<T, long> version, TimeProvider time, CancellationToken ct, Task? wake = null)
        where T : class =>
        minVersion is { } min
            ? WaitForAsync<T>(session, id, objectClass, doc => version(doc) >= min, MaxWait, time, ct, wake)
            : session.GetAsync<T>(id, objectClass, ct);

    /// <summary>
    /// Polls the read model (backing off from 10 ms to 200 ms, or at once when <paramref name="wake"/> completes)
    /// until <paramref name="ready"/> holds or the timeout passes, then returns the latest state; HANDLE_INVALID if
    /// the object never appeared.
    /// </summary>
    public static async Task<T> WaitForAsync<T>(IQuerySession session, Guid id, string objectClass, Func<T, bool> ready, TimeSpan timeout, TimeProvider time, CancellationToken ct, Task? wake = null)
        where T : class
    {
        var deadline = time.GetUtcNow() + timeout;
        var delay = TimeSpan.FromMilliseconds(10);
        while (true)
        {
            var doc = await session.LoadAsync<T>(id, ct);
            if (doc is not null && ready(doc))
            {
                return doc;
            }

            if (time.GetUtcNow() >= deadline)
            {
                return doc ?? throw XapiException.HandleInvalid(objectClass, id);
            }

            var pause = Task.Delay(delay, time, ct);
            await (wake is null ? pause : Task.WhenAny(pause, wake));
            ct.ThrowIfCancellationRequested();
            delay = TimeSpan.FromMilliseconds(Math.Min(MaxPoll.TotalMilliseconds, delay.TotalMilliseconds * 1.5));
        }
    }
}
