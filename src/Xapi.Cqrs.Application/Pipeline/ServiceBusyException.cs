namespace Xapi.Cqrs.Application.Pipeline;

/// <summary>
/// The command could not be decided in time (contention it could not resolve, a full queue). Nothing of it
/// was written; the client may retry after <see cref="RetryAfter"/>. Answered 503 with code TOO_BUSY.
/// </summary>
public sealed class ServiceBusyException(string reason, TimeSpan retryAfter) : Exception(reason)
{
    public const string Code = "TOO_BUSY";

    public TimeSpan RetryAfter { get; } = retryAfter;
}
