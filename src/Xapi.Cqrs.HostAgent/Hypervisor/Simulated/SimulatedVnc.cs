using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// A VNC console endpoint standing in for qemu's or vncterm's: a TCP listener on 127.0.0.1 (ephemeral port)
/// that speaks the RFB 3.8 handshake (RFC 6143 §7.1–7.3): it sends <c>RFB 003.008\n</c>, accepts a 3.3/3.7/3.8
/// client version, offers security type None, answers ClientInit with a ServerInit for a blank framebuffer,
/// then reads and ignores whatever the client sends until it disconnects. Disposing stops the listener and
/// drops every client.
/// </summary>
public sealed class SimulatedVnc : IDisposable
{
    /// <summary>The first 12 bytes every client receives.</summary>
    public const string ProtocolVersion = "RFB 003.008\n";

    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(30);

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<TcpClient, byte> _clients = new();
    private readonly ushort _width;
    private readonly ushort _height;
    private readonly byte[] _name;
    private int _connections;
    private int _disposed;

    private SimulatedVnc(TcpListener listener, string desktopName, ushort width, ushort height)
    {
        _listener = listener;
        _width = width;
        _height = height;
        _name = Encoding.UTF8.GetBytes(desktopName);
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _ = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The TCP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>
    /// Start listening on 127.0.0.1:<paramref name="port"/> (0: any free port; a given port is how a console comes back on
    /// the port it had before a restart). Throws <see cref="SocketException"/> when the port cannot be bound.
    /// </summary>
    public static SimulatedVnc Start(string desktopName, ushort width, ushort height, int port = 0)
    {
        ArgumentNullException.ThrowIfNull(desktopName);
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);
        var listener = new TcpListener(IPAddress.Loopback, port);
        try
        {
            listener.Start();
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        return new SimulatedVnc(listener, desktopName, width, height);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _stop.Cancel();
        _listener.Stop();
        foreach (var client in _clients.Keys)
        {
            client.Dispose();
        }

        _clients.Clear();
    }

    private async Task AcceptLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException or InvalidOperationException)
            {
                return;
            }

            if (token.IsCancellationRequested)
            {
                client.Dispose();
                return;
            }

            Interlocked.Increment(ref _connections);
            _clients.TryAdd(client, 0);
            _ = Task.Run(() => ServeAsync(client, token), CancellationToken.None);
        }
    }

    private async Task ServeAsync(TcpClient client, CancellationToken token)
    {
        try
        {
            client.NoDelay = true;
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(ProtocolVersion), token).ConfigureAwait(false);

            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(token))
            {
                handshake.CancelAfter(HandshakeTimeout);
                await HandshakeAsync(stream, handshake.Token).ConfigureAwait(false);
            }

            // Normal protocol: read and discard client messages until the client goes away.
            var sink = new byte[4096];
            while (await stream.ReadAsync(sink, token).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidDataException)
        {
            // the client left, misbehaved, or the console is being destroyed
        }
        finally
        {
            _clients.TryRemove(client, out _);
            client.Dispose();
        }
    }

    private async Task HandshakeAsync(NetworkStream stream, CancellationToken token)
    {
        var version = new byte[12];
        await stream.ReadExactlyAsync(version, token).ConfigureAwait(false);
        var text = Encoding.ASCII.GetString(version);
        if (!text.StartsWith("RFB 003.", StringComparison.Ordinal) || text[^1] != '\n')
        {
            throw new InvalidDataException("not an RFB client");
        }

        var minor = text[8..11];
        if (minor == "003")
        {
            // RFB 3.3: the server decides the security type (1 = None); no SecurityResult follows.
            await stream.WriteAsync(new byte[] { 0, 0, 0, 1 }, token).ConfigureAwait(false);
        }
        else
        {
            await stream.WriteAsync(new byte[] { 1, 1 }, token).ConfigureAwait(false); // one type: None
            var choice = new byte[1];
            await stream.ReadExactlyAsync(choice, token).ConfigureAwait(false);
            if (choice[0] != 1)
            {
                throw new InvalidDataException("unsupported security type");
            }

            if (minor == "008")
            {
                await stream.WriteAsync(new byte[] { 0, 0, 0, 0 }, token).ConfigureAwait(false); // SecurityResult OK
            }
        }

        var clientInit = new byte[1];
        await stream.ReadExactlyAsync(clientInit, token).ConfigureAwait(false);
        await stream.WriteAsync(ServerInit(), token).ConfigureAwait(false);
    }

    private byte[] ServerInit()
    {
        var message = new byte[24 + _name.Length];
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(0), _width);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), _height);

        // PIXEL_FORMAT: 32 bpp, depth 24, little-endian, true colour, 8 bits per channel at shifts 16/8/0.
        message[4] = 32;
        message[5] = 24;
        message[6] = 0;
        message[7] = 1;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(8), 255);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(10), 255);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(12), 255);
        message[14] = 16;
        message[15] = 8;
        message[16] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(20), (uint)_name.Length);
        _name.CopyTo(message, 24);
        return message;
    }
}
