using Marten;
using MediatR;
using Microsoft.Extensions.Logging;

namespace Xapi.Cqrs.Application.Pipeline;

/// <summary>
/// Optimistic concurrency instead of xapi's global lock: when another command appended to a stream this
/// one read (same VM, same host …), SaveChanges fails and nothing of this command was written. The
/// command is then decided again from fresh state — for a start, that means re-planning the host.
/// </summary>
public sealed class ConcurrencyRetryBehavior<TRequest, TResponse>(IDocumentSession session, ILogger<ConcurrencyRetryBehavior<TRequest, TResponse>> log)
    : IPipelineBehavior<TRequest, TResponse>
{
    public const int MaxAttempts = 12;

    public async Task<TResponse> Handle(TRequest request, CancellationToken cancellationToken, RequestHandlerDelegate<TResponse> next)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await next();
            }
            catch (Exception e) when (Conflicts.IsConcurrencyConflict(e) && attempt < MaxAttempts)
            {
                session.EjectAllPendingChanges();
                log.LogDebug("{Request}: concurrent change on a stream it read (attempt {Attempt}); deciding again", typeof(TRequest).Name, attempt);
                await Task.Delay(Random.Shared.Next(1, 10 * attempt), cancellationToken);
            }
        }
    }
}

public static class Conflicts
{
    /// <summary>An append that lost an optimistic-concurrency race (expected version no longer current, stream id taken).</summary>
    public static bool IsConcurrencyConflict(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is JasperFx.ConcurrencyException
                || e.GetType().Name is "EventStreamUnexpectedMaxEventIdException" or "ExistingStreamIdCollisionException" or "ConcurrentUpdateException")
            {
                return true;
            }
        }

        return false;
    }
}
