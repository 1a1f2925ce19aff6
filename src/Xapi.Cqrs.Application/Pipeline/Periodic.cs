namespace Xapi.Cqrs.Application.Pipeline;

/// <summary>Background work repeated on a period: once at once, then every tick, until stopped; a failed round is reported and the next one still runs.</summary>
public static class Periodic
{
    public static async Task RunAsync(TimeSpan period, TimeProvider time, Func<CancellationToken, Task> round, Action<Exception> failed, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(period, time);
        try
        {
            do
            {
                try
                {
                    await round(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    failed(e);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }
}
