namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>A re-armable wake-up: <see cref="Arm"/> before checking, <see cref="Set"/> from a watch; no wake-up is lost in between.</summary>
internal sealed class Signal
{
    private TaskCompletionSource _current = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Arm()
    {
        var next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _current, next);
        return next.Task;
    }

    public void Set() => Volatile.Read(ref _current).TrySetResult();
}
