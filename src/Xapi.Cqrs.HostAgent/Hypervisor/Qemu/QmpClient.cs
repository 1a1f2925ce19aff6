using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Qemu;

/// <summary>An asynchronous QMP event (<c>STOP</c>, <c>RESUME</c>, <c>SHUTDOWN</c>, <c>DEVICE_DELETED</c> …) with its data (an empty object when it has none).</summary>
public sealed record QmpEvent(string Name, JsonElement Data, DateTimeOffset At);

/// <summary>
/// A QMP command failed: <see cref="ErrorClass"/> is QEMU's error class (<c>GenericError</c>, <c>CommandNotFound</c>,
/// <c>DeviceNotFound</c> …), or ours: <see cref="Disconnected"/> when QEMU closed the socket (it died or quit) and
/// <see cref="TimedOut"/> when it did not answer in time.
/// </summary>
public sealed class QmpException(string command, string errorClass, string description)
    : Exception($"QMP {command}: {errorClass}: {description}")
{
    public const string Disconnected = "Disconnected";
    public const string TimedOut = "Timeout";

    public string Command { get; } = command;

    public string ErrorClass { get; } = errorClass;

    public string Description { get; } = description;
}

/// <summary>
/// A client of the QEMU Machine Protocol over its unix socket: one JSON object a line. <see cref="ConnectAsync"/> reads the
/// greeting and negotiates capabilities (<c>qmp_capabilities</c>); <see cref="ExecuteAsync"/> sends a command with an id
/// of its own and answers its <c>return</c> (or throws <see cref="QmpException"/> with its <c>error</c>); events are raised
/// on <see cref="Event"/> from the reading loop, in the order QEMU sent them. Every call has a timeout; when QEMU closes
/// the socket every pending call fails <see cref="QmpException.Disconnected"/> at once and <see cref="Closed"/> completes.
/// Thread-safe.
/// </summary>
public sealed class QmpClient : IAsyncDisposable, IDisposable
{
    /// <summary>How long a command may take unless the call says otherwise.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly ConcurrentDictionary<long, (string Command, TaskCompletionSource<JsonElement> Answer)> _pending = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private long _nextId;
    private Task _reader = Task.CompletedTask;
    private string? _closeReason;

    private QmpClient(Socket socket, string path)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        SocketPath = path;
    }

    /// <summary>The socket this client is connected to.</summary>
    public string SocketPath { get; }

    /// <summary>QEMU's version from the greeting, e.g. <c>7.2.22</c>.</summary>
    public string Version { get; private set; } = "";

    /// <summary>Raised for every asynchronous event, on the reading loop: handlers must not block.</summary>
    public event EventHandler<QmpEvent>? Event;

    /// <summary>Completes when the connection has closed (QEMU quit or died, or this client was disposed).</summary>
    public Task Closed => _closed.Task;

    /// <summary>Why the connection closed, once it has.</summary>
    public string? CloseReason => _closeReason;

    /// <summary>
    /// Connects to a QMP socket, reads the greeting and enters command mode. Fails <see cref="QmpException"/>
    /// (<see cref="QmpException.Disconnected"/>) when nothing listens or QEMU closes the socket, or
    /// (<see cref="QmpException.TimedOut"/>) when the greeting does not come within <paramref name="timeout"/>.
    /// </summary>
    public static async Task<QmpClient> ConnectAsync(string socketPath, TimeSpan timeout, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        QmpClient? client = null;
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), deadline.Token).ConfigureAwait(false);
            client = new QmpClient(socket, socketPath);
            var greeting = await client.ReadGreetingAsync(deadline.Token).ConfigureAwait(false);
            client.Version = greeting;
            client._reader = Task.Run(client.ReadLoopAsync, CancellationToken.None);
            await client.ExecuteAsync("qmp_capabilities", null, timeout, ct).ConfigureAwait(false);
            return client;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            Dispose(client, socket);
            throw new QmpException("connect", QmpException.TimedOut, $"no QMP greeting on {socketPath} within {timeout.TotalSeconds:0.#} s");
        }
        catch (SocketException e)
        {
            Dispose(client, socket);
            throw new QmpException("connect", QmpException.Disconnected, $"cannot connect to {socketPath}: {e.Message}");
        }
        catch
        {
            Dispose(client, socket);
            throw;
        }

        static void Dispose(QmpClient? client, Socket socket)
        {
            if (client is null)
            {
                socket.Dispose();
            }
            else
            {
                client.Dispose();
            }
        }
    }

    /// <summary>Runs a command and answers its <c>return</c> value.</summary>
    public Task<JsonElement> ExecuteAsync(string command, object? arguments = null, CancellationToken ct = default) =>
        ExecuteAsync(command, arguments, DefaultTimeout, ct);

    /// <summary>Runs a command and answers its <c>return</c> value, failing <see cref="QmpException"/> after <paramref name="timeout"/>.</summary>
    public async Task<JsonElement> ExecuteAsync(string command, object? arguments, TimeSpan timeout, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        if (_closeReason is { } reason)
        {
            throw new QmpException(command, QmpException.Disconnected, reason);
        }

        var id = Interlocked.Increment(ref _nextId);
        var answer = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = (command, answer);
        try
        {
            var message = new JsonObject { ["execute"] = command, ["id"] = id };
            if (arguments is not null)
            {
                message["arguments"] = arguments as JsonNode ?? JsonSerializer.SerializeToNode(arguments);
            }

            var bytes = Encoding.UTF8.GetBytes(message.ToJsonString() + "\n");
            await _writeGate.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await _stream.WriteAsync(bytes, ct).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                Close($"QEMU closed its QMP socket: {e.Message}");
            }
            finally
            {
                _writeGate.Release();
            }

            if (_closeReason is { } closed && !answer.Task.IsCompleted)
            {
                throw new QmpException(command, QmpException.Disconnected, closed);
            }

            try
            {
                return await answer.Task.WaitAsync(timeout, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new QmpException(command, QmpException.TimedOut, $"no answer within {timeout.TotalSeconds:0.#} s");
            }
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>
    /// Waits for the next event named <paramref name="name"/> that satisfies <paramref name="match"/>; null when
    /// <paramref name="timeout"/> passes first or the connection closes. Subscribe before causing the event:
    /// use <see cref="ListenFor"/> for that.
    /// </summary>
    public EventWaiter ListenFor(string name, Func<QmpEvent, bool>? match = null) => new(this, name, match);

    private async Task<string> ReadGreetingAsync(CancellationToken ct)
    {
        var line = await ReadLineAsync(ct).ConfigureAwait(false)
            ?? throw new QmpException("connect", QmpException.Disconnected, $"{SocketPath} closed before the QMP greeting");
        using var doc = JsonDocument.Parse(line);
        if (!doc.RootElement.TryGetProperty("QMP", out var qmp))
        {
            throw new QmpException("connect", "ProtocolError", $"not a QMP greeting: {line}");
        }

        var v = qmp.GetProperty("version").GetProperty("qemu");
        return $"{v.GetProperty("major").GetInt32()}.{v.GetProperty("minor").GetInt32()}.{v.GetProperty("micro").GetInt32()}";
    }

    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    /// <summary>One line of the socket, or null at the end of the stream.</summary>
    private async Task<string?> ReadLineAsync(CancellationToken ct)
    {
        var line = new MemoryStream();
        while (true)
        {
            var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                line.Write(_buffer, _start, newline - _start);
                _start = newline + 1;
                return Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length);
            }

            line.Write(_buffer, _start, _end - _start);
            _start = _end = 0;
            var read = await _stream.ReadAsync(_buffer, ct).ConfigureAwait(false);
            if (read == 0)
            {
                return null;
            }

            _end = read;
        }
    }

    private async Task ReadLoopAsync()
    {
        var reason = "QEMU closed its QMP socket (the process quit or died)";
        try
        {
            while (await ReadLineAsync(_stop.Token).ConfigureAwait(false) is { } line)
            {
                if (line.Length > 0)
                {
                    Dispatch(line);
                }
            }
        }
        catch (OperationCanceledException)
        {
            reason = "the QMP connection was closed by the host agent";
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            reason = $"the QMP connection broke: {e.Message}";
        }
        finally
        {
            Close(reason);
        }
    }

    private void Dispatch(string line)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(line);
            root = doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return; // not JSON: nothing QEMU sends; ignored
        }

        if (root.TryGetProperty("event", out var name))
        {
            var at = root.TryGetProperty("timestamp", out var ts)
                ? DateTimeOffset.FromUnixTimeMilliseconds(ts.GetProperty("seconds").GetInt64() * 1000 + ts.GetProperty("microseconds").GetInt64() / 1000)
                : DateTimeOffset.UtcNow;
            var data = root.TryGetProperty("data", out var d) ? d : JsonDocument.Parse("{}").RootElement.Clone();
            Event?.Invoke(this, new QmpEvent(name.GetString() ?? "", data, at));
            return;
        }

        if (!root.TryGetProperty("id", out var idElement) || idElement.ValueKind != JsonValueKind.Number
            || !_pending.TryGetValue(idElement.GetInt64(), out var pending))
        {
            return; // an answer nobody waits for (timed out)
        }

        if (root.TryGetProperty("error", out var error))
        {
            pending.Answer.TrySetException(new QmpException(pending.Command,
                error.TryGetProperty("class", out var c) ? c.GetString() ?? "GenericError" : "GenericError",
                error.TryGetProperty("desc", out var desc) ? desc.GetString() ?? "" : ""));
        }
        else
        {
            pending.Answer.TrySetResult(root.TryGetProperty("return", out var r) ? r : default);
        }
    }

    private void Close(string reason)
    {
        if (Interlocked.CompareExchange(ref _closeReason, reason, null) is not null)
        {
            return;
        }

        foreach (var (_, pending) in _pending)
        {
            pending.Answer.TrySetException(new QmpException(pending.Command, QmpException.Disconnected, reason));
        }

        _closed.TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
        }

        _socket.Shutdown(SocketShutdown.Both);
        await _stream.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _reader.ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // closing
        }

        Close("the QMP connection was closed by the host agent");
        _stop.Dispose();
        _writeGate.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>A subscription to one kind of event, taken before the command that causes it (<see cref="ListenFor"/>).</summary>
    public sealed class EventWaiter : IDisposable
    {
        private readonly QmpClient _client;
        private readonly string _name;
        private readonly Func<QmpEvent, bool>? _match;
        private readonly TaskCompletionSource<QmpEvent?> _seen = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal EventWaiter(QmpClient client, string name, Func<QmpEvent, bool>? match)
        {
            (_client, _name, _match) = (client, name, match);
            client.Event += OnEvent;
            client.Closed.ContinueWith(_ => _seen.TrySetResult(null), TaskScheduler.Default);
        }

        /// <summary>The event, or null when <paramref name="timeout"/> passes first or the connection closes.</summary>
        public async Task<QmpEvent?> WaitAsync(TimeSpan timeout, CancellationToken ct)
        {
            try
            {
                return await _seen.Task.WaitAsync(timeout, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return null;
            }
        }

        private void OnEvent(object? sender, QmpEvent e)
        {
            if (e.Name == _name && (_match is null || _match(e)))
            {
                _seen.TrySetResult(e);
            }
        }

        public void Dispose() => _client.Event -= OnEvent;
    }
}
